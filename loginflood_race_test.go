//go:build race

package mcpauth_test

// raceDetector: built with -race, whose shadow memory and per-goroutine
// state multiply the process's resident size several-fold.
const raceDetector = true
