package engine

import "sync/atomic"

// spareRing is a bounded single-producer multi-consumer ring of free frame
// bases: the worker puts frames in (topUp), any goroutine takes one out
// (Port.Alloc) with a compare-and-swap on head. It never blocks: an empty
// ring refuses at once.
//
// Why a taker's value is right: the worker writes position tail's cell only
// while tail-head < len(cells), i.e. after the cell's previous occupant
// (position tail-len) was taken. A taker loads head h, sees tail > h, loads
// cell h and then moves head from h to h+1. If that CAS succeeds, head was
// still h, so no one took position h and the worker cannot have reused its
// cell before the taker read it. Positions are 64-bit and only grow: no ABA.
// Cells are atomics so the race detector sees the hand-over too.
type spareRing struct {
	cells []atomic.Uint64
	mask  uint64
	_     [cacheLine]byte
	tail  atomic.Uint64 // next put position; stored by the worker only
	_     [cacheLine]byte
	head  atomic.Uint64 // next take position, frames taken ever; takers CAS it
	_     [cacheLine]byte
}

func newSpareRing(size int) *spareRing {
	return &spareRing{cells: make([]atomic.Uint64, size), mask: uint64(size - 1)}
}

// take removes one frame base; false when the ring is empty. Safe from any
// goroutine; retries only when another taker won the same position.
func (s *spareRing) take() (uint64, bool) {
	for {
		h := s.head.Load()
		if h == s.tail.Load() {
			return 0, false
		}
		a := s.cells[h&s.mask].Load()
		if s.head.CompareAndSwap(h, h+1) {
			return a, true
		}
	}
}

// topUp moves frames from the free list into the spare ring until it is
// full, taking only frames beyond the tee reserve (the fill ring gets what
// is left). Worker only; called when the ring fell below half.
func (w *Worker) topUp() {
	s := w.spare
	room := len(s.cells) - int(w.spareTail-s.head.Load())
	n := min(room, len(w.free)-w.cfg.Reserve)
	if n <= 0 {
		return
	}
	k := len(w.free) - n
	for _, a := range w.free[k:] {
		s.cells[w.spareTail&s.mask].Store(a)
		w.spareTail++
	}
	w.free = w.free[:k]
	s.tail.Store(w.spareTail) // publishes the cells to takers
}

// Alloc hands the caller a free frame of worker `worker`: addr is its base
// address, frame its bytes (the whole frame; UMEM memory). The caller owns
// it until it gives it to Send (which sends it down the port's block's
// egress path) or back with Free; the frame counts as Held meanwhile.
// Safe from any goroutine; lock-free; never waits.
//
// The frame comes from the worker's spare ring (WorkerConfig.Spare), which
// the worker tops up between vectors and before it sleeps. ok is false when
// the ring is empty: other allocators drained it faster than the worker
// refills, or every frame of the worker is in use (in the kernel's rings or
// held). Retry later (a millisecond is plenty for a running worker); Alloc
// never spins. On an empty ring it wakes a worker asleep in Poll over a
// Wakeable queue, so that the worker reaps completions and tops the ring up.
//
// Write the data at an offset that leaves headroom for the headers the
// egress path pushes (xsk.PacketHeadroom, 256 bytes, is what received
// frames have).
func (p Port) Alloc(worker int) (addr uint64, frame []byte, ok bool) {
	w := p.e.workers[worker]
	addr, ok = w.spare.take()
	if !ok {
		w.wake()
		return 0, nil, false
	}
	return addr, w.umem.Frame(addr, w.fsize), true
}

// Free gives an unused frame from Alloc (or any frame the caller owns) back
// to worker `worker`, like Worker.Release. Safe from any goroutine;
// ErrQueueFull when the worker's hand-off queue is full: the caller still
// owns the frame then, and is best served keeping it for its next send.
// Like Send, it wakes the worker if it sleeps.
func (p Port) Free(worker int, addr uint64) error {
	return p.e.workers[worker].Release(addr)
}
