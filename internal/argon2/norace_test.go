//go:build !race

package argon2

// raceDetector: built with -race (see race_test.go).
const raceDetector = false
