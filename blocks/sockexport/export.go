package sockexport

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lana-net/lana/engine"
)

// Errors of an Export.
var (
	// ErrAttached: the block already has a client (one client per block).
	ErrAttached = errors.New("block already has a client")
	// ErrNotAttached: Send before Attach.
	ErrNotAttached = errors.New("no client attached")
	// ErrClosed: the block left the stack (rm or replace-drop).
	ErrClosed = errors.New("block closed")
	// ErrNoFrame: no pooled frame to send with (see the package doc).
	ErrNoFrame = errors.New("no egress frame available")
	// ErrTooLong: the frame does not fit a UMEM frame after the headroom.
	ErrTooLong = errors.New("frame too long")
	// ErrTap: Send on a tap block (taps only observe).
	ErrTap = errors.New("tap blocks do not send")
)

const cacheLine = 64

// Meta describes one copied frame.
type Meta struct {
	// Time is when the worker copied the frame (Unix nanoseconds).
	Time int64
	// Len is the number of bytes copied, Orig the frame's length.
	Len, Orig uint32
	// Queue is the NIC queue the frame arrived on or leaves by.
	Queue uint16
	// Dir is the direction the frame travelled.
	Dir engine.Direction
}

type poolFrame struct {
	addr uint64 // frame base
	off  uint32 // data start within the frame
	buf  []byte // the frame from off to its end (UMEM memory)
}

// lane is one worker's queue and pool. The worker writes tail, ptail, the
// slots ahead of tail, the pool entries ahead of ptail and the worker
// counters; the reader writes head; the sender writes phead.
type lane struct {
	tail  atomic.Uint64
	ptail atomic.Uint64
	_     [cacheLine]byte
	head  atomic.Uint64
	_     [cacheLine]byte
	phead atomic.Uint64
	_     [cacheLine]byte

	slots []Meta
	buf   []byte // len(slots) * snap
	pool  []poolFrame

	delivered, queueFull, noClient atomic.Uint64 // worker

	spare    poolFrame // a frame taken from the pool but not sent; sender lock
	hasSpare bool
	_        [cacheLine]byte
}

// put copies p into slot pos. Worker only.
func (ln *lane) put(pos uint64, now int64, p *engine.Packet, dir engine.Direction, snap int) {
	i := pos & uint64(len(ln.slots)-1)
	n := copy(ln.buf[int(i)*snap:int(i+1)*snap], p.Data())
	ln.slots[i] = Meta{Time: now, Len: uint32(n), Orig: uint32(p.Len()), Queue: p.Queue, Dir: dir}
}

func add(c *atomic.Uint64, n uint64) {
	if n != 0 {
		c.Store(c.Load() + n)
	}
}

// Export is what a socket-export block shares with its client: the queues
// the worker fills, the pool the client sends with, and the counters.
type Export struct {
	name string
	snap int
	tap  bool

	lanes    []lane
	attached atomic.Bool   // a client reads; workers copy only then
	ready    chan struct{} // one pending wakeup for the reader
	done     chan struct{} // closed when the block leaves the stack

	rmu  sync.Mutex // the reader: Next
	next int        // round-robin lane of Next; rmu

	smu      sync.Mutex // the sender: Send, Attach, Detach, close
	eng      *engine.Engine
	port     engine.Port
	closed   bool
	rr       int
	sent     atomic.Uint64
	sendFail atomic.Uint64 // hand-off queue full
	noFrame  atomic.Uint64
	tooLong  atomic.Uint64
}

func newExport(name string, workers, queue, snap, pool int, tap bool) *Export {
	x := &Export{name: name, snap: snap, tap: tap, lanes: make([]lane, max(workers, 1)),
		ready: make(chan struct{}, 1), done: make(chan struct{})}
	for i := range x.lanes {
		ln := &x.lanes[i]
		ln.slots = make([]Meta, queue)
		ln.buf = make([]byte, queue*snap)
		ln.pool = make([]poolFrame, pool)
	}
	return x
}

// notify wakes the reader without blocking. Worker only.
func (x *Export) notify() {
	select {
	case x.ready <- struct{}{}:
	default:
	}
}

// Attach makes the caller the block's only client: frames reaching the
// block are copied for it from now on, and Send goes through eng's port of
// the block. Safe from any goroutine.
func (x *Export) Attach(eng *engine.Engine) error {
	x.smu.Lock()
	defer x.smu.Unlock()
	if x.closed {
		return fmt.Errorf("attach %s: %w", x.name, ErrClosed)
	}
	if x.attached.Load() {
		return fmt.Errorf("attach %s: %w", x.name, ErrAttached)
	}
	port, err := eng.Port(x.name)
	if err != nil {
		return fmt.Errorf("attach %s: %w", x.name, err)
	}
	x.eng, x.port = eng, port
	// Frames queued before an earlier client left are stale.
	x.rmu.Lock()
	for i := range x.lanes {
		ln := &x.lanes[i]
		ln.head.Store(ln.tail.Load())
	}
	x.rmu.Unlock()
	x.attached.Store(true)
	return nil
}

// Detach ends the client's attachment; workers stop copying. Pooled frames
// stay for the next client (or go back when the block closes).
func (x *Export) Detach() {
	x.smu.Lock()
	defer x.smu.Unlock()
	x.attached.Store(false)
}

// Ready is signalled (one pending signal at most) after workers queued
// frames; the reader then calls Next until it reports false.
func (x *Export) Ready() <-chan struct{} { return x.ready }

// Done is closed when the block leaves the stack (rm, replace-drop).
func (x *Export) Done() <-chan struct{} { return x.done }

// Next copies the oldest queued frame of the next worker with frames into
// dst (cut to len(dst)) and reports its metadata and the bytes copied; ok
// is false when every queue is empty. Reader only; safe from any goroutine.
func (x *Export) Next(dst []byte) (m Meta, n int, ok bool) {
	x.rmu.Lock()
	defer x.rmu.Unlock()
	for k := range x.lanes {
		li := (x.next + k) % len(x.lanes)
		ln := &x.lanes[li]
		head := ln.head.Load()
		if head == ln.tail.Load() {
			continue
		}
		i := head & uint64(len(ln.slots)-1)
		m = ln.slots[i]
		n = copy(dst, ln.buf[int(i)*x.snap:int(i)*x.snap+int(m.Len)])
		ln.head.Store(head + 1) // hands the slot back to the worker
		x.next = li + 1
		return m, n, true
	}
	return Meta{}, 0, false
}

// MaxSend returns the largest frame Send can take (0 before the first
// frame came into the pool). Sender side.
func (x *Export) MaxSend() int {
	x.smu.Lock()
	defer x.smu.Unlock()
	for i := range x.lanes {
		ln := &x.lanes[i]
		if ln.hasSpare {
			return len(ln.spare.buf)
		}
		if ph := ln.phead.Load(); ph != ln.ptail.Load() {
			return len(ln.pool[ph%uint64(len(ln.pool))].buf)
		}
	}
	return 0
}

// Send copies frame into a pooled UMEM frame and hands it to that frame's
// worker, which sends it down the block's egress path. Safe from any
// goroutine (serialised); never blocks.
func (x *Export) Send(frame []byte) error {
	x.smu.Lock()
	defer x.smu.Unlock()
	switch {
	case x.closed:
		return fmt.Errorf("send on %s: %w", x.name, ErrClosed)
	case x.tap:
		return fmt.Errorf("send on %s: %w", x.name, ErrTap)
	case !x.attached.Load():
		return fmt.Errorf("send on %s: %w", x.name, ErrNotAttached)
	}
	for k := range x.lanes {
		w := (x.rr + k) % len(x.lanes)
		ln := &x.lanes[w]
		if !ln.hasSpare {
			ph := ln.phead.Load()
			if ph == ln.ptail.Load() {
				continue
			}
			ln.spare, ln.hasSpare = ln.pool[ph%uint64(len(ln.pool))], true
			ln.pool[ph%uint64(len(ln.pool))] = poolFrame{}
			ln.phead.Store(ph + 1) // the slot is free for the worker again
		}
		f := ln.spare
		if len(frame) > len(f.buf) {
			x.tooLong.Add(1)
			return fmt.Errorf("send on %s: %d bytes: at most %d fit a frame: %w", x.name, len(frame), len(f.buf), ErrTooLong)
		}
		copy(f.buf, frame)
		if err := x.port.Send(w, f.addr, f.off, uint32(len(frame))); err != nil {
			x.sendFail.Add(1)
			return fmt.Errorf("send on %s: %w", x.name, err)
		}
		ln.spare, ln.hasSpare = poolFrame{}, false
		x.rr = w + 1
		x.sent.Add(1)
		return nil
	}
	x.noFrame.Add(1)
	return fmt.Errorf("send on %s: %w", x.name, ErrNoFrame)
}

// Stats are an Export's counters.
type Stats struct {
	// Delivered frames were queued for the client; QueueFull frames found
	// the queue full; NoClient frames arrived with no client attached.
	Delivered, QueueFull, NoClient uint64
	// Queued frames wait in the queues now; Pooled frames wait for Send.
	Queued, Pooled uint64
	// Sent frames went to a worker; SendFull found its hand-off queue full;
	// NoFrame found no pooled frame; TooLong did not fit a frame.
	Sent, SendFull, NoFrame, TooLong uint64
}

// Stats sums the counters over workers. Safe from any goroutine.
func (x *Export) Stats() Stats {
	var s Stats
	for i := range x.lanes {
		ln := &x.lanes[i]
		s.Delivered += ln.delivered.Load()
		s.QueueFull += ln.queueFull.Load()
		s.NoClient += ln.noClient.Load()
		s.Queued += ln.tail.Load() - ln.head.Load()
		s.Pooled += ln.ptail.Load() - ln.phead.Load()
	}
	s.Sent, s.SendFull, s.NoFrame, s.TooLong = x.sent.Load(), x.sendFail.Load(), x.noFrame.Load(), x.tooLong.Load()
	return s
}

// close ends the Export: pooled frames go back to their workers, Done is
// closed. Control plane, after every worker left the block.
func (x *Export) close() error {
	x.smu.Lock()
	defer x.smu.Unlock()
	if x.closed {
		return nil
	}
	x.closed = true
	x.attached.Store(false)
	close(x.done)
	var lost int
	for w := range x.lanes {
		ln := &x.lanes[w]
		var addrs []uint64
		if ln.hasSpare {
			addrs = append(addrs, ln.spare.addr)
			ln.hasSpare = false
		}
		for ph, pt := ln.phead.Load(), ln.ptail.Load(); ph != pt; ph++ {
			addrs = append(addrs, ln.pool[ph%uint64(len(ln.pool))].addr)
		}
		ln.phead.Store(ln.ptail.Load())
		if len(addrs) > 0 && x.eng == nil {
			lost += len(addrs) // cannot happen: the pool fills only while attached
			continue
		}
		for _, a := range addrs {
			if !release(x.eng.Worker(w), a) {
				lost++
			}
		}
	}
	if lost > 0 {
		return fmt.Errorf("close %s: %d pooled frames could not be released: %w", x.name, lost, engine.ErrQueueFull)
	}
	return nil
}

// release retries a full hand-off queue for up to a second.
func release(w *engine.Worker, addr uint64) bool {
	for range 1000 {
		if w.Release(addr) == nil {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

// Sizes returns the number of workers, the per-worker queue depth and the
// snap length.
func (x *Export) Sizes() (workers, queue, snap int) {
	return len(x.lanes), len(x.lanes[0].slots), x.snap
}

// Tap reports whether the block is a tap (copies and lets frames continue).
func (x *Export) Tap() bool { return x.tap }
