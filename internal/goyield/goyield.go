// Package goyield lets a goroutine that is locked to its own OS thread and
// never blocks in Go (a receive loop asleep in poll(2), a generator spinning
// on a counter) pass through the Go scheduler now and then.
//
// Without that, the runtime sees one goroutine that has run since it
// started. Every 10ms its monitor thread (sysmon) preempts it with a signal,
// or, if it is asleep in a syscall, takes its P. After each take, sysmon
// wakes every 20µs for a millisecond. On a two-cpu machine those wakeups
// land on the other pinned thread's cpu. docs/performance.md ("The Go
// runtime's monitor thread") has the measurements.
package goyield

import (
	"runtime"
	"time"
)

// Every is the longest a Timer lets pass between two yields. It stays under
// the runtime's 10ms preemption slice. A yield of a locked goroutine costs
// two thread hand-offs, so this interval costs about 200 of them a second.
const Every = 5 * time.Millisecond

// checkEvery is how many calls of Maybe read the clock once: a loop that
// calls it every few microseconds (a worker before each sleep, 50,000 times
// a second in the lab) reads the clock a few thousand times a second instead
// of on every call. time.Now costs about 47ns on this machine's vDSO, two
// clock reads.
const checkEvery = 8

// Timer yields at most once per Every. The zero value yields at its first
// call; New starts the clock now. A Timer belongs to one goroutine.
type Timer struct {
	last  time.Time
	calls uint32
}

// New returns a Timer whose first yield is due Every from now.
func New() Timer { return Timer{last: time.Now()} }

// Maybe yields to the Go scheduler (runtime.Gosched) if Every has passed
// since the last yield, and reports whether it did. It reads the clock on
// its first call and every checkEvery calls after, so a yield comes at most
// checkEvery-1 calls late.
func (t *Timer) Maybe() bool {
	if t.calls++; t.calls%checkEvery != 1 {
		return false
	}
	now := time.Now()
	if now.Sub(t.last) < Every {
		return false
	}
	t.last = now
	runtime.Gosched()
	return true
}
