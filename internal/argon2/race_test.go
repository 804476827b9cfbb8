//go:build race

package argon2

// raceDetector: under -race, sync.Pool drops a random quarter of Puts.
const raceDetector = true
