package engine_test

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/xsk"
)

// wakeQueue is a MemQueue whose Poll really sleeps until Wake or the
// timeout, like a socket's eventfd: a Wake with no Poll sleeping stays
// pending and ends the next Poll at once. Its TX "link" sends every frame
// the moment Transmit takes it (Complete returns them), so a sender never
// runs out of frames. A fake for the worker's idle path; the other rings
// are the MemQueue's.
type wakeQueue struct {
	*xsk.MemQueue
	wake     chan struct{} // capacity 1: a pending wake, as an eventfd's counter
	sent     []uint64      // transmitted, not yet completed; worker only
	polls    atomic.Uint64 // Poll calls begun
	asleep   atomic.Bool   // inside Poll
	timedOut atomic.Uint64 // Polls that slept the whole timeout
	forever  atomic.Uint64 // Polls begun with no timeout
	holdTX   atomic.Bool   // Complete returns nothing: frames stay in flight
}

func newWakeQueue(mq *xsk.MemQueue) *wakeQueue {
	return &wakeQueue{MemQueue: mq, wake: make(chan struct{}, 1), sent: make([]uint64, 0, allocFrames)}
}

func (q *wakeQueue) Wake() error {
	select {
	case q.wake <- struct{}{}:
	default: // one is pending already
	}
	return nil
}

func (q *wakeQueue) Poll(timeout time.Duration) (bool, error) {
	q.polls.Add(1)
	q.asleep.Store(true)
	defer q.asleep.Store(false)
	if timeout < 0 { // forever, as a socket's Poll
		q.forever.Add(1)
		<-q.wake
		return false, nil
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-q.wake:
	case <-t.C:
		q.timedOut.Add(1)
	}
	return false, nil
}

func (q *wakeQueue) Transmit(descs []xsk.Desc) int {
	for _, d := range descs {
		q.sent = append(q.sent, d.Addr)
	}
	return len(descs)
}

func (q *wakeQueue) Complete(addrs []uint64) int {
	if q.holdTX.Load() {
		return 0
	}
	n := copy(addrs, q.sent)
	q.sent = q.sent[:copy(q.sent, q.sent[n:])]
	return n
}

var _ engine.Wakeable = (*wakeQueue)(nil)

// waitFor spins (yielding) until cond holds; false after a few seconds,
// far less than the rig's one-minute PollTimeout and far more than any
// wakeup takes.
func waitFor(cond func() bool) bool {
	var end time.Time
	for i := 0; !cond(); i++ {
		switch {
		case i < 10_000:
			runtime.Gosched()
		case end.IsZero():
			end = time.Now().Add(5 * time.Second)
		case time.Now().After(end):
			return false
		default:
			time.Sleep(50 * time.Microsecond)
		}
	}
	return true
}

// sendOne waits for a spare frame of r's worker and sends it, stamped
// with seq.
func sendOne(t *testing.T, r *allocRig, seq uint32) {
	t.Helper()
	var addr uint64
	var frame []byte
	if !waitFor(func() bool {
		var ok bool
		addr, frame, ok = r.port.Alloc(0)
		return ok
	}) {
		t.Fatalf("send %d: no spare frame: %+v", seq, r.w.Stats().Frames)
	}
	f := stamp(frame, xsk.PacketHeadroom, 1, seq)
	if err := r.port.Send(0, addr, xsk.PacketHeadroom, uint32(len(f))); err != nil {
		t.Fatal(err)
	}
}

// TestWakeSend: a worker asleep in Poll (wakeup mode, PollTimeout one
// minute) over a Wakeable queue is woken by every Send, by an Alloc on an
// empty spare ring and by Free, and no wakeup is lost over 100,000 send/sleep cycles: each sent
// frame reaches the TX ring without any Poll running into its timeout.
// Half the sends wait until the worker sleeps, the others go while it is
// still on its way to sleep (the race the sleeping flag's re-check
// closes). Run it with -race.
func TestWakeSend(t *testing.T) {
	cycles := 100_000
	if testing.Short() {
		cycles = 5_000
	}
	mq := newMemQueue(t)
	wq := newWakeQueue(mq)
	r := newAllocRig(t, engine.WorkerConfig{Mode: engine.PollWakeup, PollTimeout: time.Minute}, wq, mq)
	r.e.Start()
	defer r.e.Stop()
	if !waitFor(func() bool { return wq.polls.Load() > 0 }) {
		t.Fatal("the idle worker never polled")
	}
	for i := range cycles {
		// The last send was transmitted, so the worker left Poll (asleep
		// was cleared before); asleep now means it sleeps again.
		if i%2 == 0 && !waitFor(wq.asleep.Load) {
			t.Fatalf("cycle %d: the worker did not go back to sleep", i)
		}
		sendOne(t, r, uint32(i))
		want := uint64(i + 1)
		if !waitFor(func() bool { return r.w.Stats().TxPackets == want }) {
			t.Fatalf("cycle %d: the send was not transmitted (a lost wakeup): %d polls, %d timed out, stats %+v",
				i, wq.polls.Load(), wq.timedOut.Load(), r.w.Stats())
		}
	}
	// An Alloc on an empty ring wakes it (to reap completions and top
	// up; here there is nothing beyond the tee reserve to top up with).
	if !waitFor(wq.asleep.Load) {
		t.Fatal("the worker did not go back to sleep")
	}
	polls := wq.polls.Load()
	var held []uint64
	for {
		a, _, ok := r.port.Alloc(0)
		if !ok {
			break
		}
		held = append(held, a)
	}
	if !waitFor(func() bool { return wq.polls.Load() > polls }) {
		t.Fatalf("an Alloc on an empty ring did not wake the worker: %+v", r.w.Stats().Frames)
	}
	// Free wakes it too.
	if !waitFor(wq.asleep.Load) {
		t.Fatal("the worker did not go back to sleep")
	}
	for _, a := range held {
		if err := r.port.Free(0, a); err != nil {
			t.Fatal(err)
		}
	}
	if !waitFor(func() bool { return r.w.Stats().Frames.Held == 0 }) {
		t.Fatalf("freed frames not taken back (a lost wakeup): %+v", r.w.Stats().Frames)
	}
	if n := wq.timedOut.Load(); n != 0 {
		t.Fatalf("%d Polls ran into the one-minute timeout", n)
	}
	st := r.w.Stats()
	t.Logf("%d cycles: %d polls, tx %d", cycles, st.Polls, st.TxPackets)
	if st.Drops["tx-full"] != 0 || st.TxPackets != uint64(cycles) {
		t.Fatalf("stats %+v, want %d transmitted", st, cycles)
	}
}

// TestSleepTimeout: over a Wakeable queue an idle worker sleeps with no
// timeout (nothing to arm and cancel around each sleep); while a frame it
// sent waits on the TX ring (completions do not end a poll) it sleeps at
// most PollTimeout, and once the frame completed it sleeps without one
// again.
func TestSleepTimeout(t *testing.T) {
	mq := newMemQueue(t)
	wq := newWakeQueue(mq)
	r := newAllocRig(t, engine.WorkerConfig{Mode: engine.PollWakeup, PollTimeout: time.Millisecond}, wq, mq)
	r.e.Start()
	defer r.e.Stop()
	if !waitFor(wq.asleep.Load) {
		t.Fatal("the idle worker never slept")
	}
	time.Sleep(50 * time.Millisecond)
	if p, f, to := wq.polls.Load(), wq.forever.Load(), wq.timedOut.Load(); p != 1 || f != 1 || to != 0 {
		t.Fatalf("idle for 50ms with a 1ms PollTimeout: %d polls, %d without timeout, %d timed out; want 1, 1, 0", p, f, to)
	}

	wq.holdTX.Store(true)
	sendOne(t, r, 1)
	if !waitFor(func() bool { return wq.timedOut.Load() >= 5 }) {
		t.Fatalf("a frame in flight: %d polls timed out, want the worker polling every 1ms", wq.timedOut.Load())
	}
	wq.holdTX.Store(false)
	if !waitFor(func() bool { return r.w.Stats().Frames.InTX == 0 }) {
		t.Fatalf("the sent frame never completed: %+v", r.w.Stats().Frames)
	}
	if !waitFor(wq.asleep.Load) {
		t.Fatal("the worker did not go back to sleep")
	}
	before := wq.timedOut.Load()
	time.Sleep(20 * time.Millisecond)
	if n := wq.timedOut.Load() - before; n > 1 {
		t.Fatalf("%d polls timed out after the frame completed: the worker kept a timeout", n)
	}
}

// TestWakeStop: Stop wakes a worker asleep in a one-minute Poll at once.
func TestWakeStop(t *testing.T) {
	mq := newMemQueue(t)
	wq := newWakeQueue(mq)
	r := newAllocRig(t, engine.WorkerConfig{Mode: engine.PollWakeup, PollTimeout: time.Minute}, wq, mq)
	r.e.Start()
	if !waitFor(func() bool { return wq.polls.Load() > 0 }) {
		t.Fatal("the idle worker never polled")
	}
	done := make(chan error, 1)
	go func() { done <- r.e.Stop() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not wake the sleeping worker")
	}
}

// timedQueue is a MemQueue whose Poll sleeps the whole timeout and that
// cannot be woken: a worker over it goes to sleep every PollTimeout.
type timedQueue struct{ *xsk.MemQueue }

func (q timedQueue) Poll(timeout time.Duration) (bool, error) {
	time.Sleep(timeout)
	return false, nil
}

// TestWorkerYields: a worker that goes to sleep in Poll again and again
// yields to the Go scheduler at most once per YieldEvery, and does yield (so that
// the runtime never sees it as one goroutine running for ever); a
// busy-polling worker, which never sleeps, does not yield.
func TestWorkerYields(t *testing.T) {
	for _, tc := range []struct {
		mode engine.PollMode
		want bool
	}{{engine.PollWakeup, true}, {engine.PollBusy, false}} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			mq := newMemQueue(t)
			r := newAllocRig(t, engine.WorkerConfig{Mode: tc.mode, PollTimeout: time.Millisecond}, timedQueue{mq}, mq)
			start := time.Now()
			r.e.Start()
			time.Sleep(200 * time.Millisecond)
			if err := r.e.Stop(); err != nil {
				t.Fatal(err)
			}
			elapsed := time.Since(start)
			st := r.w.Stats()
			most := uint64(elapsed/engine.YieldEvery) + 1
			switch {
			case !tc.want && st.Yields != 0:
				t.Fatalf("%d yields in %v: a busy worker must not yield", st.Yields, elapsed)
			case tc.want && (st.Yields < 10 || st.Yields > most):
				t.Fatalf("%d yields over %v and %d polls: want at least 10 and at most one per %v (%d)",
					st.Yields, elapsed, st.Polls, engine.YieldEvery, most)
			}
			t.Logf("%d yields, %d polls in %v", st.Yields, st.Polls, elapsed)
		})
	}
}
