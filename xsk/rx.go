package xsk

// RXRing is the kernel-produced ring of a socket through which received
// packets arrive: each entry is a Desc naming a filled frame of the UMEM.
//
// An RXRing is owned by one goroutine (the socket's owner); the kernel is the
// producer.
type RXRing struct {
	r ring
	// slots is the descriptor array inside the ring's memory. Written by
	// the kernel, read by this side (Get).
	slots []Desc
}

// NewRXRing lays an RX ring of size entries over mem at offsets off, as the
// consumer side. The kernel (or a test playing it) produces. mem must stay
// valid while the ring is used.
func NewRXRing(mem []byte, off RingOffsets, size uint32) (*RXRing, error) {
	x := new(RXRing)
	if err := x.init("rx", mem, off, size); err != nil {
		return nil, err
	}
	return x, nil
}

func (x *RXRing) init(name string, mem []byte, off RingOffsets, size uint32) error {
	r, p, err := mapRing(name, mem, off, size, 16)
	if err != nil {
		return err
	}
	x.r = r
	x.slots = descSlice(p, size)
	x.r.initConsumer()
	return nil
}

// Size returns the number of entries.
func (x *RXRing) Size() uint32 { return x.r.size }

// Peek claims up to max received descriptors and returns how many it got and
// the index of the first. Read them with Get, then hand them back with
// Release (the frames themselves stay the caller's until refilled).
func (x *RXRing) Peek(max uint32) (n, idx uint32) { return x.r.peek(max) }

// Get returns the descriptor in peeked slot idx.
func (x *RXRing) Get(idx uint32) Desc { return x.slots[idx&x.r.mask] }

// Release hands the n oldest peeked slots back to the kernel.
func (x *RXRing) Release(n uint32) { x.r.release(n) }

// Cancel un-peeks the n most recently peeked, unreleased slots: the next
// Peek returns them again.
func (x *RXRing) Cancel(n uint32) { x.r.cancel(n) }

// Consume peeks, copies into descs and releases up to len(descs) descriptors
// and returns how many.
func (x *RXRing) Consume(descs []Desc) int { return consumeBatch(&x.r, x.slots, descs) }

// Ready reports how many descriptors a Peek could take now. It reads the
// shared producer index only when the cached view is empty.
func (x *RXRing) Ready() uint32 { return x.r.ready() }
