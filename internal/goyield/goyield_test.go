package goyield

import (
	"testing"
	"time"
)

// TestMaybeAtMostOncePerEvery: over 100ms of back-to-back calls a Timer
// yields at least 100ms/Every-2 and at most 100ms/Every+1 times.
func TestMaybeAtMostOncePerEvery(t *testing.T) {
	y := New()
	start := time.Now()
	yields := 0
	for time.Since(start) < 100*time.Millisecond {
		if y.Maybe() {
			yields++
		}
	}
	elapsed := time.Since(start)
	least, most := int(elapsed/Every)-2, int(elapsed/Every)+1
	if yields < least || yields > most {
		t.Fatalf("%d yields in %v: want between %d and %d", yields, elapsed, least, most)
	}
}

// TestZeroTimerYieldsAtOnce: the zero Timer's first call yields.
func TestZeroTimerYieldsAtOnce(t *testing.T) {
	var y Timer
	if !y.Maybe() {
		t.Fatal("the zero Timer did not yield on its first call")
	}
	if y.Maybe() {
		t.Fatal("a second call right after the first yielded again")
	}
}

// drive plays a caller that calls Maybe every interval for d on a fake
// clock (Maybe's logic without its clock read and Gosched) and returns the
// clock reads and the longest time between two yields.
func drive(interval, d time.Duration) (reads int, longest time.Duration) {
	start := time.Unix(1000, 0)
	y := Timer{last: start, checked: start}
	last := start
	for now := start; now.Sub(start) < d; now = now.Add(interval) {
		if y.calls++; y.calls < y.stride {
			continue
		}
		reads++
		if y.due(now) {
			longest = max(longest, now.Sub(last))
			last = now
		}
	}
	return reads, longest
}

// TestYieldLatenessIsBounded: whatever the caller's pace, the time between
// two yields stays under the runtime's 10ms (Every plus at most maxCheckGap,
// or one call interval when calls come further apart), and the clock is
// read at most every minCheckGap once the stride has settled, or on every
// call when calls come further apart.
func TestYieldLatenessIsBounded(t *testing.T) {
	if Every+maxCheckGap >= 10*time.Millisecond {
		t.Fatalf("Every %v plus maxCheckGap %v reaches sysmon's 10ms", Every, maxCheckGap)
	}
	for _, interval := range []time.Duration{
		100 * time.Nanosecond, 2 * time.Microsecond, 25 * time.Microsecond,
		90 * time.Microsecond, 300 * time.Microsecond, time.Millisecond,
	} {
		const d = 2 * time.Second
		reads, longest := drive(interval, d)
		late := max(maxCheckGap, interval)
		if longest > Every+late {
			t.Errorf("calls every %v: yields up to %v apart, want at most %v", interval, longest, Every+late)
		}
		calls := int(d / interval)
		// The stride settles within about log2(maxStride) reads.
		most := min(calls, int(d/minCheckGap)+20)
		if reads > most {
			t.Errorf("calls every %v: %d clock reads in %d calls, want at most %d", interval, reads, calls, most)
		}
		if interval < minCheckGap/maxStride {
			continue // the stride's cap, not the gap, bounds the reads
		}
		// Less a few reads while the stride settles.
		if least := min(int(d/(2*maxCheckGap)), calls) - 4; reads < least {
			t.Errorf("calls every %v: only %d clock reads, want at least %d", interval, reads, least)
		}
	}
}
