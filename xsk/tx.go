package xsk

// TXRing is the user-produced ring of a socket through which packets are
// sent: each entry is a Desc naming a frame of the UMEM holding the packet.
//
// A TXRing is owned by one goroutine (the socket's owner); the kernel is the
// consumer.
type TXRing struct {
	r ring
	// slots is the descriptor array inside the ring's memory. Written by
	// this side (Set), read by the kernel.
	slots []Desc
}

// NewTXRing lays a TX ring of size entries over mem at offsets off, as the
// producer side. The kernel (or a test playing it) consumes. mem must stay
// valid while the ring is used.
func NewTXRing(mem []byte, off RingOffsets, size uint32) (*TXRing, error) {
	t := new(TXRing)
	if err := t.init("tx", mem, off, size); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *TXRing) init(name string, mem []byte, off RingOffsets, size uint32) error {
	r, p, err := mapRing(name, mem, off, size, 16)
	if err != nil {
		return err
	}
	t.r = r
	t.slots = descSlice(p, size)
	t.r.initProducer()
	return nil
}

// Size returns the number of entries.
func (t *TXRing) Size() uint32 { return t.r.size }

// Reserve claims up to n free slots and returns how many it got and the index
// of the first. Fill them with Set, then publish them with Submit.
func (t *TXRing) Reserve(n uint32) (got, idx uint32) { return t.r.reserve(n) }

// Set writes descriptor d into reserved slot idx.
func (t *TXRing) Set(idx uint32, d Desc) { t.slots[idx&t.r.mask] = d }

// Submit publishes the n oldest reserved slots to the kernel.
func (t *TXRing) Submit(n uint32) { t.r.submit(n) }

// Cancel gives back the n most recently reserved, unsubmitted slots.
func (t *TXRing) Cancel(n uint32) { t.r.cancel(n) }

// Produce reserves, sets and submits as many of descs as fit and returns how
// many did.
func (t *TXRing) Produce(descs []Desc) int { return produceBatch(&t.r, t.slots, descs) }

// NeedWakeup reports whether the kernel asks for a sendto to start sending
// what this ring holds.
func (t *TXRing) NeedWakeup() bool { return t.r.needWakeup() }

// Pending reports how many submitted descriptors the kernel has not consumed
// yet. It reads the shared consumer index only when the cached one shows
// some.
func (t *TXRing) Pending() uint32 { return t.r.unconsumed() }
