package engine_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/xsk"
)

// allocRig is eth -> d hooked at eth on one memory queue: a frame sent
// through d's port walks d's and eth's egress path to the TX ring.
type allocRig struct {
	q    *xsk.MemQueue
	e    *engine.Engine
	w    *engine.Worker
	port engine.Port
}

const allocFrames = 1024

// newAllocRig builds the rig over mq, or over q (wrapping mq) when not nil.
func newAllocRig(t *testing.T, wc engine.WorkerConfig, q engine.Queue, mq *xsk.MemQueue) *allocRig {
	t.Helper()
	if q == nil {
		q = mq
	}
	wc.Queue, wc.UMEM = q, mq.UMEM()
	e, err := engine.New(engine.Config{Workers: []engine.WorkerConfig{wc}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.Exec("add eth eth", "add d dummy", "bind eth d", "hook eth"); err != nil {
		t.Fatal(err)
	}
	port, err := e.Port("d")
	if err != nil {
		t.Fatal(err)
	}
	return &allocRig{q: mq, e: e, w: e.Worker(0), port: port}
}

func newMemQueue(t *testing.T) *xsk.MemQueue {
	t.Helper()
	q, err := xsk.NewMemQueue(xsk.UMEMConfig{FrameSize: 2048, FrameCount: allocFrames, FillSize: allocFrames, CompletionSize: allocFrames}, 512, 512)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// stamp writes an Ethernet frame carrying (id, seq) at off in frame and
// fills the rest of its 64 bytes with a byte derived from both, so that two
// writers sharing a frame show as a torn payload.
func stamp(frame []byte, off int, id, seq uint32) []byte {
	f := frame[off : off+64]
	copy(f, []byte{0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x88, 0xb5})
	binary.BigEndian.PutUint32(f[14:], id)
	binary.BigEndian.PutUint32(f[18:], seq)
	fill := byte(id*31 + seq)
	for i := 22; i < 64; i++ {
		f[i] = fill
	}
	return f
}

// unstamp checks a transmitted frame and returns its (id, seq).
func unstamp(f []byte) (id, seq uint32, ok bool) {
	if len(f) != 64 {
		return 0, 0, false
	}
	id, seq = binary.BigEndian.Uint32(f[14:]), binary.BigEndian.Uint32(f[18:])
	fill := byte(id*31 + seq)
	for _, b := range f[22:] {
		if b != fill {
			return id, seq, false
		}
	}
	return id, seq, true
}

// settle runs the worker until its hand-off queue is drained and its TX
// ring is empty, playing the kernel; it returns the frames transmitted.
func (r *allocRig) settle(fn func([]byte)) int {
	n := 0
	for range 8 {
		r.w.RunOnce()
		n += r.q.DrainTX(fn)
	}
	r.w.RunOnce()
	return n
}

// findAll returns every frame of the worker, stopped: those in the fill
// ring (by playing the kernel), on the free list and in the spare ring (by
// allocating them), sorted.
func (r *allocRig) findAll(t *testing.T) (found []uint64, spare int) {
	t.Helper()
	frame := testFrame()
	var descs [512]xsk.Desc
	for {
		n := r.q.Deliver(frame, 512)
		if n == 0 {
			break
		}
		for _, d := range descs[:r.q.Receive(descs[:n])] {
			found = append(found, r.q.UMEM().FrameBase(d.Addr))
		}
	}
	found = append(found, r.w.FreeFrames()...)
	for {
		a, _, ok := r.port.Alloc(0)
		if !ok {
			break
		}
		found = append(found, a)
		spare++
	}
	sort.Slice(found, func(i, j int) bool { return found[i] < found[j] })
	return found, spare
}

func (r *allocRig) checkAllFound(t *testing.T) {
	t.Helper()
	fc := r.w.Stats().Frames
	if fc.Held != 0 || fc.InTX != 0 || fc.Free+fc.Spare+fc.Kernel != fc.Total {
		t.Fatalf("frames after settling: %+v", fc)
	}
	found, spare := r.findAll(t)
	if len(found) != allocFrames || spare != fc.Spare {
		t.Fatalf("found %d frames (%d spare), want %d (%+v)", len(found), spare, allocFrames, fc)
	}
	for i, a := range found {
		if a != r.q.UMEM().FrameAddr(uint32(i)) {
			t.Fatalf("frame %d is %#x: a frame is duplicated or lost", i, a)
		}
	}
}

// TestAllocConcurrent: several goroutines allocate at once while the worker
// runs, each sending or freeing its frames at random. No frame is handed
// out twice (every transmitted payload is intact and seen once), every send
// reaches the TX ring, and afterwards every frame is found exactly once.
// Run it with -race: the hand-over through the spare ring must be clean.
func TestAllocConcurrent(t *testing.T) {
	const goroutines = 4
	per := 20_000
	if testing.Short() {
		per = 3_000
	}
	r := newAllocRig(t, engine.WorkerConfig{}, nil, newMemQueue(t))
	var done atomic.Int32
	var sent, freed, empty [goroutines]int
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer done.Add(1)
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			var held []uint64
			for seq := 0; seq < per; {
				addr, frame, ok := r.port.Alloc(0)
				if !ok {
					empty[g]++
					runtime.Gosched()
					continue
				}
				switch {
				case rng.IntN(4) == 0: // free it, maybe after holding a few
					held = append(held, addr)
					if len(held) > rng.IntN(8) {
						for len(held) > 0 {
							if r.port.Free(0, held[0]) != nil {
								runtime.Gosched()
								continue
							}
							held = held[1:]
							freed[g]++
						}
					}
				default:
					f := stamp(frame, xsk.PacketHeadroom, uint32(g), uint32(seq))
					for r.port.Send(0, addr, xsk.PacketHeadroom, uint32(len(f))) != nil {
						runtime.Gosched()
					}
					sent[g]++
					seq++
				}
			}
			for _, a := range held {
				for r.port.Free(0, a) != nil {
					runtime.Gosched()
				}
				freed[g]++
			}
		}()
	}
	next := [goroutines]uint32{}
	tx := 0
	check := func(f []byte) {
		id, seq, ok := unstamp(f)
		if !ok || id >= goroutines || seq != next[id] {
			t.Errorf("transmitted frame %x: torn, foreign or out of order (want seq %d)", f, next[min(id, goroutines-1)])
			return
		}
		next[id]++
		tx++
	}
	for done.Load() < goroutines {
		r.w.RunOnce()
		r.q.DrainTX(check)
	}
	wg.Wait()
	r.settle(check)
	if t.Failed() {
		return
	}
	total := 0
	for g := range goroutines {
		total += sent[g]
		if next[g] != uint32(per) {
			t.Fatalf("goroutine %d: %d of %d frames transmitted", g, next[g], per)
		}
	}
	t.Logf("sent %d, freed %v, empty allocs %v, transmitted %d", total, freed, empty, tx)
	if tx != total {
		t.Fatalf("transmitted %d of %d sends", tx, total)
	}
	r.checkAllFound(t)
}

// TestAllocAccounting: a million random steps (allocate, send, free, hold,
// receive, run the worker, play the kernel's TX side) keep the frame
// counters balanced at every check, and every frame is found at the end.
func TestAllocAccounting(t *testing.T) {
	steps := 2_000_000
	if testing.Short() {
		steps = 200_000
	}
	r := newAllocRig(t, engine.WorkerConfig{Reserve: 32, Spare: 32}, nil, newMemQueue(t))
	rng := rand.New(rand.NewPCG(7, 7))
	frame := testFrame()
	var held []uint64
	var allocs, sends, frees, misses int
	balanced := func(step int) {
		fc := r.w.Stats().Frames
		if fc.Free+fc.Spare+fc.Kernel+fc.InTX+fc.Held != fc.Total || fc.Held != len(held) || fc.Spare < 0 {
			t.Fatalf("step %d: frames %+v, %d held by the test", step, fc, len(held))
		}
	}
	for i := range steps {
		switch k := rng.IntN(100); {
		case k < 40:
			addr, _, ok := r.port.Alloc(0)
			if !ok {
				misses++
				continue
			}
			held = append(held, addr)
			allocs++
		case k < 65 && len(held) > 0:
			j := rng.IntN(len(held))
			f := stamp(r.q.UMEM().Frame(held[j], 2048), 128, 0, uint32(i))
			if r.port.Send(0, held[j], 128, uint32(len(f))) == nil {
				held[j] = held[len(held)-1]
				held = held[:len(held)-1]
				sends++
			}
		case k < 80 && len(held) > 0:
			j := rng.IntN(len(held))
			if r.port.Free(0, held[j]) == nil {
				held[j] = held[len(held)-1]
				held = held[:len(held)-1]
				frees++
			}
		case k < 85:
			r.q.Deliver(frame, rng.IntN(64)+1)
		case k < 95:
			r.w.RunOnce()
			balanced(i)
		default:
			r.q.DrainTX(nil)
		}
	}
	for _, a := range held {
		if err := r.port.Free(0, a); err != nil {
			r.w.RunOnce()
			if err := r.port.Free(0, a); err != nil {
				t.Fatal(err)
			}
		}
	}
	held = nil
	r.settle(nil)
	for r.w.RunOnce() > 0 {
		r.q.DrainTX(nil)
	}
	r.settle(nil)
	t.Logf("allocs %d sends %d frees %d misses %d, stats %+v", allocs, sends, frees, misses, r.w.Stats())
	if allocs < steps/10 || sends == 0 || frees == 0 || misses == 0 {
		t.Fatalf("a path was not exercised: allocs %d sends %d frees %d misses %d", allocs, sends, frees, misses)
	}
	r.checkAllFound(t)
}

// sleepyQueue is a MemQueue whose Poll really sleeps (as a socket's does)
// until the test wakes it or the timeout passes. A fake for the worker's
// idle path only: the rings are the MemQueue's.
type sleepyQueue struct {
	*xsk.MemQueue
	asleep chan struct{} // one signal per Poll call, sent when it starts
	wake   chan struct{}
	closed chan struct{}
	inPoll atomic.Bool
}

func (q *sleepyQueue) Poll(timeout time.Duration) (bool, error) {
	q.inPoll.Store(true)
	defer q.inPoll.Store(false)
	select {
	case q.asleep <- struct{}{}:
	case <-q.closed:
		return false, nil
	}
	select {
	case <-q.wake:
	case <-q.closed:
	case <-time.After(timeout):
	}
	return false, nil
}

// TestAllocParked: while the worker sleeps in Poll, Alloc on an empty spare
// ring refuses at once (no spinning, no waking); once the worker has run
// again the frames are back. Frames completed while it slept are reaped
// when it wakes, before it sleeps again.
func TestAllocParked(t *testing.T) {
	mq := newMemQueue(t)
	sq := &sleepyQueue{MemQueue: mq, asleep: make(chan struct{}), wake: make(chan struct{}), closed: make(chan struct{})}
	// FillTarget -1: every frame beyond the reserve goes to the fill ring,
	// so that once the spare ring is empty no frame is left to top it up.
	r := newAllocRig(t, engine.WorkerConfig{Mode: engine.PollWakeup, PollTimeout: time.Minute, Spare: 64, FillTarget: -1}, sq, mq)
	// The spare ring is full before the worker ever ran.
	if fc := r.w.Stats().Frames; fc.Spare != 64 {
		t.Fatalf("spare frames before the first run: %+v", fc)
	}
	r.w.RunOnce() // the fill ring takes every frame beyond the reserve
	var sentAddrs []uint64
	for i := range 64 {
		addr, frame, ok := r.port.Alloc(0)
		if !ok {
			t.Fatalf("alloc %d of a full ring of 64 failed", i)
		}
		f := stamp(frame, xsk.PacketHeadroom, 1, uint32(i))
		if err := r.port.Send(0, addr, xsk.PacketHeadroom, uint32(len(f))); err != nil {
			t.Fatal(err)
		}
		sentAddrs = append(sentAddrs, addr)
	}
	if _, _, ok := r.port.Alloc(0); ok {
		t.Fatal("alloc from an empty spare ring succeeded")
	}
	r.e.Start()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			close(sq.closed)
			r.e.Stop()
		}
	}
	defer stop()
	<-sq.asleep // the sends went to TX; nothing came back: the ring is empty
	for i := range 1000 {
		if _, _, ok := r.port.Alloc(0); ok {
			t.Fatalf("alloc %d succeeded with every frame beyond the reserve in the kernel's rings", i)
		}
	}
	if !sq.inPoll.Load() {
		t.Fatal("a refused Alloc woke the worker")
	}
	// The kernel sends the 64 frames while the worker sleeps.
	n := mq.DrainTX(func(f []byte) {
		if _, _, ok := unstamp(f); !ok {
			t.Errorf("transmitted frame %x is torn", f)
		}
	})
	if n != 64 {
		t.Fatalf("transmitted %d of 64", n)
	}
	if _, _, ok := r.port.Alloc(0); ok {
		t.Fatal("alloc succeeded before the worker reaped the completions")
	}
	sq.wake <- struct{}{}
	<-sq.asleep // ran and tops up before sleeping again
	var got []uint64
	for {
		a, _, ok := r.port.Alloc(0)
		if !ok {
			break
		}
		got = append(got, a)
	}
	if len(got) != 64 {
		t.Fatalf("after the worker ran: %d frames allocated, want the ring's 64", len(got))
	}
	// They are the frames that were sent: reaped from the completion ring.
	slices.Sort(got)
	slices.Sort(sentAddrs)
	if !slices.Equal(got, sentAddrs) {
		t.Fatalf("after the worker ran, allocated %x, want the sent frames %x", got, sentAddrs)
	}
	for _, a := range got {
		if err := r.port.Free(0, a); err != nil {
			t.Fatal(err)
		}
	}
	sq.wake <- struct{}{}
	<-sq.asleep
	stop()
	fc := r.w.Stats().Frames
	if fc.Held != 0 || fc.InTX != 0 || fc.Spare != 64 || fc.Free+fc.Spare+fc.Kernel != fc.Total {
		t.Fatalf("frames after freeing: %+v", fc)
	}
}

// TestSpareConfig: the spare ring's size must be a power of two.
func TestSpareConfig(t *testing.T) {
	q := newMemQueue(t)
	if _, err := engine.New(engine.Config{Workers: []engine.WorkerConfig{{Queue: q, UMEM: q.UMEM(), Spare: 48}}}); !errors.Is(err, engine.ErrConfig) {
		t.Fatalf("spare 48: %v, want ErrConfig", err)
	}
}

// TestSendToRemovedBlock: a frame sent through the port of a block that has
// since left the graph is dropped as bad-inject and its frame freed, also
// after many blocks came and went (slot ids only grow).
func TestSendToRemovedBlock(t *testing.T) {
	mq := newMemQueue(t)
	r := newAllocRig(t, engine.WorkerConfig{Mode: engine.PollBusy}, nil, mq)
	for i := range 300 {
		n := fmt.Sprintf("x%d", i)
		if err := r.e.Exec("add "+n+" dummy", "replace d "+n); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.e.Exec("unbind eth d", "rm d"); err != nil {
		t.Fatal(err)
	}
	r.w.RunOnce()
	before := r.w.Stats()
	addr, frame, ok := r.port.Alloc(0)
	if !ok {
		t.Fatal("alloc failed")
	}
	f := stamp(frame, xsk.PacketHeadroom, 1, 1)
	if err := r.port.Send(0, addr, xsk.PacketHeadroom, uint32(len(f))); err != nil {
		t.Fatal(err)
	}
	r.w.RunOnce()
	st := r.w.Stats()
	if st.Drops["bad-inject"] != 1 {
		t.Fatalf("drops %v, want one bad-inject", st.Drops)
	}
	if st.TxPackets != before.TxPackets {
		t.Fatalf("a frame for a removed block was transmitted: sent %d -> %d", before.TxPackets, st.TxPackets)
	}
}
