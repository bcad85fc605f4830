package sockexport

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/xsk"
)

// Errors of an Export.
var (
	// ErrAttached: the block already has a client (one client per block).
	ErrAttached = errors.New("block already has a client")
	// ErrNotAttached: Send before Attach.
	ErrNotAttached = errors.New("no client attached")
	// ErrClosed: the block left the stack (rm or replace-drop).
	ErrClosed = errors.New("block closed")
	// ErrNoFrame: no worker had a spare UMEM frame to send with right now
	// (see the package doc); retry later.
	ErrNoFrame = errors.New("no egress frame available")
	// ErrTooLong: the frame does not fit a UMEM frame after the headroom.
	ErrTooLong = errors.New("frame too long")
	// ErrTap: Send on a tap block (taps only observe).
	ErrTap = errors.New("tap blocks do not send")
)

const cacheLine = 64

// sendOff is where Send puts a frame's data in its UMEM frame: the headroom
// received frames have, for headers the egress path pushes.
const sendOff = xsk.PacketHeadroom

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

// lane is one worker's queue. The worker writes tail, the slots ahead of
// tail and the worker counters; the reader writes head; the sender owns
// kept.
type lane struct {
	tail atomic.Uint64
	_    [cacheLine]byte
	head atomic.Uint64
	_    [cacheLine]byte

	slots []Meta
	buf   []byte // len(slots) * snap

	delivered, queueFull, noClient atomic.Uint64 // worker

	// kept is a UMEM frame of this lane's worker allocated by Send but not
	// sent (too long a frame, or a full hand-off queue); the next Send to
	// this worker uses it. Sender lock.
	kept    uint64
	keptBuf []byte // the whole frame; nil: none kept
	_       [cacheLine]byte
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
// the worker fills, the port the client sends through, and the counters.
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
	port     engine.Port
	closed   bool
	rr       int
	sent     atomic.Uint64
	sendFail atomic.Uint64 // hand-off queue full
	noFrame  atomic.Uint64
	tooLong  atomic.Uint64
}

func newExport(name string, workers, queue, snap int, tap bool) *Export {
	x := &Export{name: name, snap: snap, tap: tap, lanes: make([]lane, max(workers, 1)),
		ready: make(chan struct{}, 1), done: make(chan struct{})}
	for i := range x.lanes {
		ln := &x.lanes[i]
		ln.slots = make([]Meta, queue)
		ln.buf = make([]byte, queue*snap)
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
	x.port = port
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

// Detach ends the client's attachment; workers stop copying. A kept frame
// stays for the next client (or goes back when the block closes).
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

// Send copies frame into a UMEM frame of the next worker that has one
// (engine.Port.Alloc, round-robin) and hands it to that worker, which sends
// it down the block's egress path. ErrNoFrame when no worker has a spare
// frame now (retry later). Safe from any goroutine (serialised); never
// blocks.
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
		if ln.keptBuf == nil {
			addr, buf, ok := x.port.Alloc(w)
			if !ok {
				continue
			}
			ln.kept, ln.keptBuf = addr, buf
		}
		if len(frame) > len(ln.keptBuf)-sendOff {
			x.tooLong.Add(1)
			return fmt.Errorf("send on %s: %d bytes: at most %d fit a frame: %w", x.name, len(frame), len(ln.keptBuf)-sendOff, ErrTooLong)
		}
		copy(ln.keptBuf[sendOff:], frame)
		if err := x.port.Send(w, ln.kept, sendOff, uint32(len(frame))); err != nil {
			x.sendFail.Add(1)
			return fmt.Errorf("send on %s: %w", x.name, err)
		}
		ln.kept, ln.keptBuf = 0, nil
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
	// Queued frames wait in the queues now.
	Queued uint64
	// Sent frames went to a worker; SendFull found its hand-off queue full;
	// NoFrame found no spare frame on any worker; TooLong did not fit a
	// frame.
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
	}
	s.Sent, s.SendFull, s.NoFrame, s.TooLong = x.sent.Load(), x.sendFail.Load(), x.noFrame.Load(), x.tooLong.Load()
	return s
}

// close ends the Export: kept frames go back to their workers, Done is
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
	lost := 0
	for w := range x.lanes {
		ln := &x.lanes[w]
		if ln.keptBuf == nil {
			continue
		}
		// A frame is kept only after an Alloc through the port.
		if !x.free(w, ln.kept) {
			lost++
		}
		ln.kept, ln.keptBuf = 0, nil
	}
	if lost > 0 {
		return fmt.Errorf("close %s: %d kept frames could not be freed: %w", x.name, lost, engine.ErrQueueFull)
	}
	return nil
}

// free gives a frame back to worker w, retrying a full hand-off queue for
// up to a second. Sender lock.
func (x *Export) free(w int, addr uint64) bool {
	for range 1000 {
		if x.port.Free(w, addr) == nil {
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
