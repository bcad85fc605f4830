package xsk

// CompletionRing is the kernel-produced ring of a UMEM through which the kernel
// returns the frames of sent packets. Each entry is a frame address.
//
// A CompletionRing is owned by one goroutine (the socket's owner); the kernel
// is the producer.
type CompletionRing struct {
	r ring
	// slots is the descriptor array inside the ring's memory. Written by
	// the kernel, read by this side (Get).
	slots []uint64
}

// NewCompletionRing lays a completion ring of size entries over mem at offsets
// off, as the consumer side. The kernel (or a test playing it) produces. mem
// must stay valid while the ring is used.
func NewCompletionRing(mem []byte, off RingOffsets, size uint32) (*CompletionRing, error) {
	c := new(CompletionRing)
	if err := c.init("completion", mem, off, size); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *CompletionRing) init(name string, mem []byte, off RingOffsets, size uint32) error {
	r, p, err := mapRing(name, mem, off, size, 8)
	if err != nil {
		return err
	}
	c.r = r
	c.slots = addrSlice(p, size)
	c.r.initConsumer()
	return nil
}

// Size returns the number of entries.
func (c *CompletionRing) Size() uint32 { return c.r.size }

// Peek claims up to max completed entries and returns how many it got and the
// index of the first. Read them with Get, then hand them back with Release.
func (c *CompletionRing) Peek(max uint32) (n, idx uint32) { return c.r.peek(max) }

// Get returns the frame address in peeked slot idx.
func (c *CompletionRing) Get(idx uint32) uint64 { return c.slots[idx&c.r.mask] }

// Release hands the n oldest peeked slots back to the kernel.
func (c *CompletionRing) Release(n uint32) { c.r.release(n) }

// Cancel un-peeks the n most recently peeked, unreleased slots: the next
// Peek returns them again.
func (c *CompletionRing) Cancel(n uint32) { c.r.cancel(n) }

// Consume peeks, copies into addrs and releases up to len(addrs) entries and
// returns how many.
func (c *CompletionRing) Consume(addrs []uint64) int { return consumeBatch(&c.r, c.slots, addrs) }
