package blocks

import "sync/atomic"

// counterPair is one worker's packet and byte count, padded to its own
// cache line. Written by that worker only (load + atomic store, once per
// vector); read by anyone.
type counterPair struct {
	packets atomic.Uint64
	bytes   atomic.Uint64
	extra   atomic.Uint64 // block-specific third counter (tee: clone failures)
	_       [64 - 24]byte
}

// perWorker is a block's per-worker counters, shared by reference with the
// block that replaces it (TakeState).
type perWorker struct{ c []counterPair }

func newPerWorker(workers int) *perWorker { return &perWorker{c: make([]counterPair, max(workers, 1))} }

func (p *perWorker) add(w int, packets, bytes, extra uint64) {
	c := &p.c[w]
	c.packets.Store(c.packets.Load() + packets)
	c.bytes.Store(c.bytes.Load() + bytes)
	if extra != 0 {
		c.extra.Store(c.extra.Load() + extra)
	}
}

func (p *perWorker) sum() (packets, bytes, extra uint64) {
	for i := range p.c {
		packets += p.c[i].packets.Load()
		bytes += p.c[i].bytes.Load()
		extra += p.c[i].extra.Load()
	}
	return
}
