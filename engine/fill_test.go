package engine_test

import (
	"runtime"
	"testing"

	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/internal/enginetest"
)

// fillRig is a memory-backed queue of fillFrames frames with one worker
// whose fill target is target, and a chain that records every frame it
// receives and then ends (the frames go back to the free list).
type fillRig struct {
	*enginetest.Rig
	rec *enginetest.FrameSet
}

const (
	fillFrames = 4096
	fillVector = 64
	fillSpare  = 64 // WorkerConfig.Spare's default
)

func newFillRig(t *testing.T, target int) *fillRig {
	t.Helper()
	r := enginetest.New(t, enginetest.Options{Frames: fillFrames, Ring: 2048, FillTarget: target},
		"add rec "+enginetest.FrameSetType, "hook rec")
	return &fillRig{Rig: r, rec: r.Instance(t, "rec").(*enginetest.FrameSet)}
}

// deliver puts n frames on the RX ring in one go, then runs the worker
// until the ring is empty.
func (r *fillRig) deliver(t *testing.T, n int) {
	t.Helper()
	if k := r.Q.Deliver(testFrame(), n); k != n {
		t.Fatalf("the queue took %d of %d frames: the fill ring ran short", k, n)
	}
	for r.W.RunOnce() > 0 {
	}
}

// want checks the worker's fill target and the frames the kernel holds.
func (r *fillRig) want(t *testing.T, target, kernel int) {
	t.Helper()
	st := r.W.Stats()
	if st.FillTarget != target || st.Frames.Kernel != kernel {
		t.Fatalf("fill target %d, kernel holds %d frames; want %d, %d (frames %+v)",
			st.FillTarget, st.Frames.Kernel, target, kernel, st.Frames)
	}
}

// TestFillTargetRotation: the worker leaves FillTarget frames with the
// kernel and hands back the frames it just freed, so the kernel receives
// into the same FillTarget frames over and over, however many frames the
// UMEM has.
func TestFillTargetRotation(t *testing.T) {
	const target = 256
	r := newFillRig(t, target)
	r.want(t, target, target)
	for range 100 {
		r.deliver(t, fillVector)
	}
	r.want(t, target, target)
	if len(r.rec.Seen) != target {
		t.Errorf("6,400 frames arrived in %d distinct frames; want the %d in rotation", len(r.rec.Seen), target)
	}
	if st := r.W.Stats(); st.Frames.Free != fillFrames-target-fillSpare {
		t.Errorf("free list holds %d frames; want %d", st.Frames.Free, fillFrames-target-fillSpare)
	}
}

// TestFillTargetGrows: a burst that leaves the kernel fewer than a quarter
// of the target (200 of 256 frames waiting on the RX ring) doubles it, and
// the same step tops the kernel up to the new target; each further such
// burst doubles it again, up to every frame.
func TestFillTargetGrows(t *testing.T) {
	r := newFillRig(t, 256)
	r.deliver(t, 200)
	r.want(t, 512, 512)
	r.deliver(t, 64) // paced traffic: no growth
	r.want(t, 512, 512)
	r.deliver(t, 400)
	r.want(t, 1024, 1024)
	r.deliver(t, 800)
	r.want(t, 2048, 2048)
	r.deliver(t, 1600)
	r.want(t, fillFrames, fillFrames-fillVector-fillSpare) // every frame but the reserve and the spare ring
}

// TestFillTargetShrinks: a grown target halves again after 65,536 received
// vectors without the kernel running low, down to the configured target;
// the kernel then gives back the frames above it as they arrive.
func TestFillTargetShrinks(t *testing.T) {
	r := newFillRig(t, 256)
	r.deliver(t, 200) // 256 -> 512
	r.deliver(t, 400) // 512 -> 1024 at its first vector; six more vectors follow
	r.want(t, 1024, 1024)
	// calm counts the single-frame vectors until the target halves.
	calm := func() int {
		t.Helper()
		target := r.W.Stats().FillTarget
		for n := 1; n <= 1<<17; n++ {
			r.deliver(t, 1)
			if r.W.Stats().FillTarget != target {
				return n
			}
		}
		t.Fatalf("the fill target stayed at %d over %d calm vectors", target, 1<<17)
		return 0
	}
	if n := calm(); n < 1<<16-6 || n > 1<<16 {
		t.Fatalf("halved after %d single-frame vectors; want 65,536 vectors since it grew", n)
	}
	r.want(t, 512, 1024-1) // the kernel still holds the frames it had, but for the last one
	for range 8 {
		r.deliver(t, fillVector)
	}
	r.want(t, 512, 512)
	if n := calm(); n != 1<<16-8 {
		t.Fatalf("halved again after %d single-frame vectors; want 65,528 (after the 8 full ones)", n)
	}
	r.want(t, 256, 512-1)
	for range 1 << 16 { // at the configured target: it stays
		r.deliver(t, 1)
	}
	for range 8 {
		r.deliver(t, fillVector)
	}
	r.want(t, 256, 256)
}

// TestFillTargetDefaults: 0 means DefaultFillTarget; a negative target, or
// one above the worker's frames, gives the kernel every frame it can have.
func TestFillTargetDefaults(t *testing.T) {
	for _, c := range []struct {
		target, wantTarget, wantKernel int
	}{
		{0, engine.DefaultFillTarget, engine.DefaultFillTarget},
		{-1, fillFrames, fillFrames - fillVector - fillSpare},
		{1 << 20, fillFrames, fillFrames - fillVector - fillSpare},
	} {
		r := newFillRig(t, c.target)
		r.want(t, c.wantTarget, c.wantKernel)
	}
}

// TestNewPrimesTheFillRing: once New returns, the queue holds the worker's
// fill target of frames, also right after Start, before the worker's
// goroutine has run (GOMAXPROCS 1 keeps it from running until this
// goroutine blocks): a socket registered with the XDP program never drops
// its first frames for an empty fill ring.
func TestNewPrimesTheFillRing(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	r := newRig(t, 64) // never run before Start
	chain(t, r.e, 1, "dummy")
	r.e.Start()
	st := r.w.Stats()
	n := r.q.Deliver(testFrame(), engine.DefaultFillTarget)
	if err := r.e.Stop(); err != nil {
		t.Fatal(err)
	}
	if st.Frames.Kernel != engine.DefaultFillTarget || st.Vectors != 0 || n != engine.DefaultFillTarget {
		t.Fatalf("right after Start the kernel holds %d frames and took %d (the worker ran %d vectors); want %d before the worker ran",
			st.Frames.Kernel, n, st.Vectors, engine.DefaultFillTarget)
	}
}
