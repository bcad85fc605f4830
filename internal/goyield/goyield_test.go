package goyield

import (
	"testing"
	"time"
)

// TestMaybeAtMostOncePerEvery: over 60ms of back-to-back calls a Timer
// yields at least 8 and at most 60ms/Every+1 times.
func TestMaybeAtMostOncePerEvery(t *testing.T) {
	y := New()
	start := time.Now()
	yields := 0
	for time.Since(start) < 60*time.Millisecond {
		if y.Maybe() {
			yields++
		}
	}
	most := int(time.Since(start)/Every) + 1
	if yields < 8 || yields > most {
		t.Fatalf("%d yields in %v: want between 8 and %d", yields, time.Since(start), most)
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

func TestMaybeReadsTheClockEveryEighthCall(t *testing.T) {
	var y Timer
	if !y.Maybe() {
		t.Fatal("the zero Timer did not yield on its first call")
	}
	y.last = time.Now().Add(-2 * Every) // a yield is due from now on
	for i := 2; i <= checkEvery; i++ {
		if y.Maybe() {
			t.Fatalf("call %d yielded: only every %dth call reads the clock", i, checkEvery)
		}
	}
	if !y.Maybe() {
		t.Fatalf("call %d, which reads the clock, did not yield although one was due", checkEvery+1)
	}
}
