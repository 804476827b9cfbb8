//go:build !race

package mcpauth_test

// raceDetector: built with -race (see loginflood_race_test.go).
const raceDetector = false
