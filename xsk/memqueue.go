package xsk

import (
	"fmt"
	"time"
)

// MemQueue is a socket without a kernel: a UMEM and the four rings over plain
// Go memory, with the same user-side methods as Socket (Receive, Refill,
// Transmit, Complete, Poll, the ring accessors) so that it can stand in for a
// Socket behind an interface, plus the kernel's side (Deliver, DrainTX) for
// benchmarks and tests.
//
// The kernel's side uses the same ring code as the user's: the kernel consumes
// the fill ring through a CompletionRing view of its memory, produces RX
// descriptors through a TXRing view, and so on. A MemQueue is single-owner:
// one goroutine calls both sides (the rings are safe across two goroutines,
// one per side, but the counters are plain fields).
type MemQueue struct {
	umem *UMEM
	// User side, with its tally. Written by the owning goroutine.
	userRings
	// Kernel side: views of the same memories from the other end.
	kFill CompletionRing // consumes the fill ring
	kComp FillRing       // produces completions
	kRX   TXRing         // produces RX descriptors
	kTX   RXRing         // consumes TX descriptors
	// dropped counts frames Deliver refused because they did not fit a
	// frame (the kernel's rx_dropped).
	dropped uint64
	// offset is where Deliver writes a packet inside a frame:
	// Headroom + PacketHeadroom, as the kernel does in copy mode.
	offset uint64
}

// NewMemQueue builds a MemQueue with a UMEM shaped by cfg and RX and TX rings
// of rxSize and txSize entries (0 means DefaultRingSize). Its fill ring starts
// empty: Refill it (for example with UMEM().FrameAddrs) before Deliver.
func NewMemQueue(cfg UMEMConfig, rxSize, txSize uint32) (*MemQueue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mem queue: %w", err)
	}
	cfg = cfg.withDefaults()
	if rxSize == 0 {
		rxSize = DefaultRingSize
	}
	if txSize == 0 {
		txSize = DefaultRingSize
	}
	q := &MemQueue{offset: uint64(cfg.Headroom) + PacketHeadroom}
	q.umem = newUMEM(make([]byte, int(cfg.FrameCount)*int(cfg.FrameSize)), cfg)
	q.umem.refs = 1
	type pair struct {
		user, kernel interface {
			init(string, []byte, RingOffsets, uint32) error
		}
		name     string
		size     uint32
		descSize int
	}
	for _, p := range []pair{
		{&q.fill, &q.kFill, "fill", cfg.FillSize, 8},
		{&q.comp, &q.kComp, "completion", cfg.CompletionSize, 8},
		{&q.rx, &q.kRX, "rx", rxSize, 16},
		{&q.tx, &q.kTX, "tx", txSize, 16},
	} {
		if err := checkRingSize(p.name, p.size); err != nil {
			return nil, fmt.Errorf("mem queue: %w", err)
		}
		mem := make([]byte, RingBytes(PlainRingOffsets, p.size, p.descSize))
		if err := p.user.init(p.name, mem, PlainRingOffsets, p.size); err != nil {
			return nil, fmt.Errorf("mem queue: %w", err)
		}
		if err := p.kernel.init(p.name, mem, PlainRingOffsets, p.size); err != nil {
			return nil, fmt.Errorf("mem queue: %w", err)
		}
	}
	return q, nil
}

// UMEM returns the queue's UMEM.
func (q *MemQueue) UMEM() *UMEM { return q.umem }

// FillRing returns the user side of the fill ring.
func (q *MemQueue) FillRing() *FillRing { return &q.fill }

// CompletionRing returns the user side of the completion ring.
func (q *MemQueue) CompletionRing() *CompletionRing { return &q.comp }

// RXRing returns the user side of the RX ring.
func (q *MemQueue) RXRing() *RXRing { return &q.rx }

// TXRing returns the user side of the TX ring.
func (q *MemQueue) TXRing() *TXRing { return &q.tx }

// Receive takes up to len(descs) received descriptors and returns how many.
// The frames they name are the caller's until refilled.
func (q *MemQueue) Receive(descs []Desc) int { return q.receive(descs) }

// Refill hands frames to the kernel side through the fill ring and returns
// how many fitted.
func (q *MemQueue) Refill(addrs []uint64) int { return q.refill(addrs) }

// Backlog reports how many delivered descriptors wait on the RX ring.
func (q *MemQueue) Backlog() int { return q.backlog() }

// Transmit queues descs on the TX ring and returns how many fitted. No kick
// is needed: DrainTX plays the kernel.
func (q *MemQueue) Transmit(descs []Desc) int { return q.produceTX(descs) }

// Complete takes up to len(addrs) completed frame addresses and returns how
// many.
func (q *MemQueue) Complete(addrs []uint64) int { return q.consumeCompletions(addrs) }

// Poll reports whether received descriptors are waiting. There is no kernel
// to wait for, so it never blocks and ignores timeout.
func (q *MemQueue) Poll(timeout time.Duration) (bool, error) {
	q.counters.polls++
	return q.rx.Ready() > 0, nil
}

// NeedWakeup reports false: a MemQueue's kernel side never sleeps.
func (q *MemQueue) NeedWakeup() bool { return false }

// Stats returns the user side's counters and the kernel side's drops.
func (q *MemQueue) Stats() (Stats, error) {
	s := q.counters.stats()
	s.RxDropped = q.dropped
	return s, nil
}

// Deliver plays the kernel receiving frame n times: it takes up to n frames
// from the fill ring (as many as the RX ring has room for), copies frame into
// each at Headroom + PacketHeadroom, posts an RX descriptor for each and
// returns how many it delivered. A frame longer than RXCapacity is dropped
// (counted in Stats().RxDropped), as the kernel does.
func (q *MemQueue) Deliver(frame []byte, n int) int {
	if len(frame) > int(q.umem.RXCapacity()) {
		q.dropped += uint64(n)
		return 0
	}
	want := clampLen(n)
	got, fidx := q.kFill.Peek(want)
	room, ridx := q.kRX.Reserve(got)
	if room < got {
		q.kFill.Cancel(got - room)
	}
	length := uint32(len(frame))
	for i := range room {
		addr := q.umem.FrameBase(q.kFill.Get(fidx+i)) + q.offset
		copy(q.umem.mem[addr:addr+uint64(length)], frame)
		q.kRX.Set(ridx+i, Desc{Addr: addr, Len: length})
	}
	q.kFill.Release(room)
	q.kRX.Submit(room)
	return int(room)
}

// DrainTX plays the kernel sending: it consumes every TX descriptor that the
// completion ring has room for, calls fn with each packet's bytes (a slice into
// the UMEM, valid only during the call; fn may be nil), posts each frame's
// address to the completion ring and returns how many it sent.
func (q *MemQueue) DrainTX(fn func(frame []byte)) int {
	got, tidx := q.kTX.Peek(q.kTX.Size())
	room, cidx := q.kComp.Reserve(got)
	if room < got {
		q.kTX.Cancel(got - room)
	}
	for i := range room {
		d := q.kTX.Get(tidx + i)
		if fn != nil {
			fn(q.umem.Frame(d.Addr, d.Len))
		}
		q.kComp.Set(cidx+i, d.Addr)
	}
	q.kTX.Release(room)
	q.kComp.Submit(room)
	return int(room)
}
