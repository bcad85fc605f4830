//go:build race

package rxbench

// raceEnabled: the race detector slows Go receive loops about tenfold.
const raceEnabled = true
