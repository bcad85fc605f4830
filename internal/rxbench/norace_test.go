//go:build !race

package rxbench

// raceEnabled: see race_test.go.
const raceEnabled = false
