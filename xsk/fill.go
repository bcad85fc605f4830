package xsk

// FillRing is the user-produced ring of a UMEM through which userspace hands
// free frames to the kernel to receive into. Each entry is a frame address.
//
// A FillRing is owned by one goroutine (the socket's owner); the kernel is the
// consumer.
type FillRing struct {
	r ring
	// slots is the descriptor array inside the ring's memory. Written by
	// this side (Set), read by the kernel.
	slots []uint64
}

// NewFillRing lays a fill ring of size entries over mem at offsets off, as
// the producer side. The kernel (or a test playing it) consumes. mem must stay
// valid while the ring is used.
func NewFillRing(mem []byte, off RingOffsets, size uint32) (*FillRing, error) {
	f := new(FillRing)
	if err := f.init("fill", mem, off, size); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *FillRing) init(name string, mem []byte, off RingOffsets, size uint32) error {
	r, p, err := mapRing(name, mem, off, size, 8)
	if err != nil {
		return err
	}
	f.r = r
	f.slots = addrSlice(p, size)
	f.r.initProducer()
	return nil
}

// Size returns the number of entries.
func (f *FillRing) Size() uint32 { return f.r.size }

// Reserve claims up to n free slots and returns how many it got and the
// index of the first. Fill them with Set, then publish them with Submit.
func (f *FillRing) Reserve(n uint32) (got, idx uint32) { return f.r.reserve(n) }

// Set writes frame address addr into reserved slot idx.
func (f *FillRing) Set(idx uint32, addr uint64) { f.slots[idx&f.r.mask] = addr }

// Submit publishes the n oldest reserved slots to the kernel.
func (f *FillRing) Submit(n uint32) { f.r.submit(n) }

// Cancel gives back the n most recently reserved, unsubmitted slots.
func (f *FillRing) Cancel(n uint32) { f.r.cancel(n) }

// Produce reserves, sets and submits as many of addrs as fit and returns how
// many did.
func (f *FillRing) Produce(addrs []uint64) int { return produceBatch(&f.r, f.slots, addrs) }

// NeedWakeup reports whether the kernel asks to be woken (poll or recvfrom)
// to take frames from this ring. Only zero-copy drivers set it.
func (f *FillRing) NeedWakeup() bool { return f.r.needWakeup() }
