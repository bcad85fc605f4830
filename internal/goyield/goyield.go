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
//
// A yield is not free either. A locked goroutine cannot simply be rescheduled
// on its own thread: the runtime hands its P to another thread, which finds
// the goroutine, hands the P back and wakes the locked thread, and a third
// thread may be woken to spin for work. A Timer reads the clock often enough
// that a yield is never much later than Every (maxCheckGap), whatever the
// caller's pace.
package goyield

import (
	"runtime"
	"time"
)

// Every is the longest a Timer lets pass between two yields, give or take
// maxCheckGap. sysmon takes a goroutine's P once it has gone 10ms without
// passing through the scheduler, so Every stays well below that. A yield
// of a locked goroutine costs two or three thread hand-offs, 200 yields a
// second at this interval. Yielding every 8ms instead cut those hand-offs
// by a third, but lanad-3 against asavie came out about 2% lower in the lab
// (37 of 60 paired rounds favoured 5ms; docs/performance.md, "The yield's
// own cost").
const Every = 5 * time.Millisecond

// How often a Timer reads the clock. time.Now costs about 47ns on this
// machine's vDSO (two clock reads), and a receive loop calls Maybe before
// each sleep, up to 50,000 times a second, so a Timer reads the clock only
// every stride calls. The stride adapts to the caller's pace so that clock
// reads come between minCheckGap and maxCheckGap apart: a few thousand a
// second at most, and a yield at most about maxCheckGap (or one call
// interval, when calls are further apart) late.
const (
	minCheckGap = 100 * time.Microsecond
	maxCheckGap = 250 * time.Microsecond
	maxStride   = 1024
)

// Timer yields at most once per Every. The zero value yields at its first
// call; New starts the clock now. A Timer belongs to one goroutine.
type Timer struct {
	last    time.Time // the last yield
	checked time.Time // the last clock read
	calls   uint32    // calls since the last clock read
	stride  uint32    // calls between clock reads (0 means 1)
}

// New returns a Timer whose first yield is due Every from now.
func New() Timer {
	now := time.Now()
	return Timer{last: now, checked: now}
}

// Maybe yields to the Go scheduler (runtime.Gosched) if Every has passed
// since the last yield, and reports whether it did. It reads the clock only
// on some calls (see maxCheckGap).
func (t *Timer) Maybe() bool {
	if t.calls++; t.calls < t.stride {
		return false
	}
	if !t.due(time.Now()) {
		return false
	}
	runtime.Gosched()
	return true
}

// due is Maybe's decision at a clock read at now: it adapts the stride to
// the time since the previous read and reports whether a yield is due,
// restarting the interval if so.
func (t *Timer) due(now time.Time) bool {
	t.calls = 0
	switch gap := now.Sub(t.checked); {
	case gap > maxCheckGap && t.stride > 1:
		t.stride /= 2
	case gap < minCheckGap && t.stride < maxStride:
		t.stride = max(2*t.stride, 2)
	}
	t.checked = now
	if now.Sub(t.last) < Every {
		return false
	}
	t.last = now
	return true
}
