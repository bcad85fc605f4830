package xsk

import (
	"fmt"
	"sync/atomic"
)

// Desc is one RX or TX descriptor, laid out as the kernel's struct xdp_desc:
// a frame's address inside the UMEM, its length, and option flags.
type Desc struct {
	// Addr is the offset of the packet's first byte inside the UMEM.
	Addr uint64
	// Len is the packet's length in bytes.
	Len uint32
	// Options carries XDP_PKT_CONTD and friends; LANA leaves it zero.
	Options uint32
}

// RingOffsets locate the parts of one ring inside its memory, as the kernel's
// struct xdp_ring_offset does inside the ring's mmap.
type RingOffsets struct {
	// Producer is the offset of the uint32 producer index.
	Producer uint64
	// Consumer is the offset of the uint32 consumer index.
	Consumer uint64
	// Flags is the offset of the uint32 flags word (XDP_RING_NEED_WAKEUP).
	Flags uint64
	// Desc is the offset of the descriptor array (8-byte aligned).
	Desc uint64
}

// PlainRingOffsets is the layout of rings built over plain memory (tests,
// MemQueue): each index on its own 64-byte cache line, as the kernel does, so
// that the producer and the consumer do not share a line.
var PlainRingOffsets = RingOffsets{Producer: 0, Consumer: 64, Flags: 128, Desc: 192}

// RingBytes returns how many bytes a ring of size entries of descSize bytes
// needs at offsets off (8 for fill and completion rings, 16 for RX and TX).
func RingBytes(off RingOffsets, size uint32, descSize int) int {
	end := off.Desc + uint64(size)*uint64(descSize)
	for _, o := range []uint64{off.Producer, off.Consumer, off.Flags} {
		if o+4 > end {
			end = o + 4
		}
	}
	return int(end)
}

// Limits on ring sizes.
const (
	// MaxRingSize is the largest ring LANA builds.
	MaxRingSize = 1 << 20
	// DefaultRingSize is the size used for a ring left at zero in a config.
	DefaultRingSize = 2048
)

// ringNeedWakeup is XDP_RING_NEED_WAKEUP, spelled here so that rings build
// on every platform.
const ringNeedWakeup = 1

// checkRingSize states the rule a ring size must follow.
func checkRingSize(name string, size uint32) error {
	if size == 0 || size&(size-1) != 0 {
		return fmt.Errorf("%s ring size %d: must be a power of two: %w", name, size, ErrInvalidConfig)
	}
	if size > MaxRingSize {
		return fmt.Errorf("%s ring size %d: must be at most %d: %w", name, size, MaxRingSize, ErrInvalidConfig)
	}
	return nil
}

// ring is the index machinery shared by the four ring types. A ring is used
// from one side only: the producer side reserves and submits, the consumer
// side peeks and releases. Both views of one ring may exist over the same
// memory (MemQueue's user and kernel sides, or a test playing the kernel).
//
// Indices are free-running uint32 counters; a slot is index & mask, so the
// arithmetic stays right when the counters wrap past 2^32.
//
// A ring value is owned by one goroutine: only the shared indices are atomic.
type ring struct {
	// producer points at the shared producer index. Written by the
	// producer side only (Submit), read by both.
	producer *atomic.Uint32
	// consumer points at the shared consumer index. Written by the consumer
	// side only (Release), read by both.
	consumer *atomic.Uint32
	// flags points at the shared flags word. Written by the kernel only.
	flags *atomic.Uint32
	// mask is size-1. Written once at construction.
	mask uint32
	// size is the number of entries. Written once at construction.
	size uint32

	// The rest is this side's private cache; the other side never sees it.

	// next is this side's cursor: the first index not yet reserved
	// (producer side) or not yet peeked (consumer side). Written by
	// Reserve/Peek and Cancel.
	next uint32
	// limit is the cached bound on next: the consumer index last read plus
	// size (producer side) or the producer index last read (consumer
	// side). Refreshed from shared memory only when it cannot satisfy a
	// request.
	limit uint32
	// published is the value this side last stored into its own shared
	// index (producer for the producer side, consumer for the consumer
	// side), kept so that Submit and Release never read shared memory.
	published uint32
}

// initProducer prepares r for the producer side from the current shared
// indices.
func (r *ring) initProducer() {
	r.next = r.producer.Load()
	r.published = r.next
	r.limit = r.consumer.Load() + r.size
}

// initConsumer prepares r for the consumer side from the current shared
// indices.
func (r *ring) initConsumer() {
	r.next = r.consumer.Load()
	r.published = r.next
	r.limit = r.producer.Load()
}

// reserve claims up to n free slots for the producer side. The shared
// consumer index is read only when the cached free space is below n.
func (r *ring) reserve(n uint32) (got, idx uint32) {
	free := r.limit - r.next
	if free < n {
		// Acquire: slots the consumer has released are free to overwrite.
		r.limit = r.consumer.Load() + r.size
		free = r.limit - r.next
	}
	if n > free {
		n = free
	}
	idx = r.next
	r.next += n
	return n, idx
}

// submit publishes the n oldest reserved, unsubmitted slots to the consumer.
func (r *ring) submit(n uint32) {
	if n > r.next-r.published {
		panic("xsk: Submit of more entries than were reserved")
	}
	r.published += n
	// Release: the descriptors written by Set become visible before the
	// index that announces them.
	r.producer.Store(r.published)
}

// peek claims up to n filled slots for the consumer side. The shared
// producer index is read only when the cached count is below n.
func (r *ring) peek(n uint32) (got, idx uint32) {
	avail := r.limit - r.next
	if avail < n {
		// Acquire: descriptors up to the producer index are written.
		r.limit = r.producer.Load()
		avail = r.limit - r.next
	}
	if n > avail {
		n = avail
	}
	idx = r.next
	r.next += n
	return n, idx
}

// release returns the n oldest peeked, unreleased slots to the producer.
func (r *ring) release(n uint32) {
	if n > r.next-r.published {
		panic("xsk: Release of more entries than were peeked")
	}
	r.published += n
	// Release: our reads of the descriptors finish before the producer
	// may overwrite them.
	r.consumer.Store(r.published)
}

// cancel gives back the n most recently claimed (reserved or peeked) slots
// that were not yet submitted or released.
func (r *ring) cancel(n uint32) {
	if n > r.next-r.published {
		panic("xsk: Cancel of more entries than are claimed")
	}
	r.next -= n
}

// ready reports how many filled slots the consumer side could peek now,
// reading the shared producer index only when the cache shows none.
func (r *ring) ready() uint32 {
	if r.limit == r.next {
		r.limit = r.producer.Load()
	}
	return r.limit - r.next
}

// unconsumed reports, for the producer side, how many submitted entries the
// consumer has not released yet. It reads the shared consumer index only
// when the cached one shows some, and refreshes the cache.
func (r *ring) unconsumed() uint32 {
	if r.limit-r.size == r.published {
		return 0
	}
	r.limit = r.consumer.Load() + r.size
	return r.published - (r.limit - r.size)
}

// needWakeup reports whether the kernel set XDP_RING_NEED_WAKEUP.
func (r *ring) needWakeup() bool {
	return r.flags.Load()&ringNeedWakeup != 0
}
