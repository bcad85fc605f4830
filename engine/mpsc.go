package engine

import "sync/atomic"

// handoff is one frame handed to a worker by another goroutine: a frame to
// send down the egress path of block slot, or (slot < 0) a frame released
// by its owner.
type handoff struct {
	addr uint64 // frame base
	off  uint32 // data start within the frame
	len  uint32
	slot int32
}

type mpscCell struct {
	seq atomic.Uint64 // position the cell is ready for; see push and pop
	val handoff
}

// mpsc is a bounded lock-free multi-producer single-consumer queue (the
// sequence-numbered ring of D. Vyukov). Any goroutine may push; only the
// owning worker pops. A full queue refuses the push instead of blocking.
type mpsc struct {
	cells []mpscCell
	mask  uint64
	_     [cacheLine]byte
	tail  atomic.Uint64 // next push position; producers CAS it
	_     [cacheLine]byte
	head  uint64 // next pop position; owned by the consumer
}

func newMPSC(size int) *mpsc {
	q := &mpsc{cells: make([]mpscCell, size), mask: uint64(size - 1)}
	for i := range q.cells {
		q.cells[i].seq.Store(uint64(i))
	}
	return q
}

// push adds v; false when the queue is full. Safe from any goroutine.
func (q *mpsc) push(v handoff) bool {
	pos := q.tail.Load()
	for {
		c := &q.cells[pos&q.mask]
		seq := c.seq.Load()
		switch d := int64(seq - pos); {
		case d == 0:
			if q.tail.CompareAndSwap(pos, pos+1) {
				c.val = v
				c.seq.Store(pos + 1) // publishes val to the consumer
				return true
			}
			pos = q.tail.Load()
		case d < 0:
			return false
		default:
			pos = q.tail.Load()
		}
	}
}

// ready reports whether pop would return a value. Consumer only.
func (q *mpsc) ready() bool {
	return q.cells[q.head&q.mask].seq.Load() == q.head+1
}

// pop removes the oldest value; false when empty. Consumer only.
func (q *mpsc) pop() (handoff, bool) {
	c := &q.cells[q.head&q.mask]
	if c.seq.Load() != q.head+1 {
		return handoff{}, false
	}
	v := c.val
	c.seq.Store(q.head + q.mask + 1) // hands the cell back to producers
	q.head++
	return v, true
}
