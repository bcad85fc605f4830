package engine

import "sync/atomic"

// cacheLine is the padding unit that keeps each worker's counters apart.
const cacheLine = 64

// blockCounters are one worker's counters for one block. Only that worker
// writes them, with plain load + atomic store (a MOV and an XCHG on amd64,
// no contended read-modify-write), once per vector; readers sum all workers.
type blockCounters struct {
	packets     atomic.Uint64
	bytes       atomic.Uint64
	vectors     atomic.Uint64
	sampledNs   atomic.Uint64
	sampledPkts atomic.Uint64
	drops       [MaxReasons]atomic.Uint64
	_           [cacheLine - (5+MaxReasons)*8%cacheLine]byte
}

func add(c *atomic.Uint64, n uint64) { c.Store(c.Load() + n) }

// slot holds a block name's identity and statistics; it survives replace and
// set so counters continue across hot swaps. Created by the control plane,
// counters written by workers.
type slot struct {
	id      uint32
	reasons []string
	c       []blockCounters // one per worker
	health  *health         // panics; shared like c
}

func newSlot(id uint32, workers int, info Info) *slot {
	if workers < 1 {
		workers = 1
	}
	return &slot{id: id, reasons: append([]string(nil), info.Reasons...), c: make([]blockCounters, workers), health: &health{}}
}

// resized returns a slot with the same id and counters but the reasons of info.
func (s *slot) resized(info Info) *slot {
	return &slot{id: s.id, reasons: append([]string(nil), info.Reasons...), c: s.c, health: s.health}
}

// BlockStats are a block's counters summed over workers.
type BlockStats struct {
	// Packets and Bytes entered the block.
	Packets, Bytes uint64
	// Vectors is the number of Process calls.
	Vectors uint64
	// Drops counts dropped packets by the block's reason names.
	Drops map[string]uint64
	// NsPerPacket is the sampled processing time per packet (every 64th
	// vector of each worker is timed); 0 before the first sample.
	NsPerPacket float64
	// Panics counts Process calls that panicked, over every instance
	// that had this name (see Config.OnPanic).
	Panics uint64
	// Failed is the panic message of the current instance, "" while it
	// is healthy. A failed instance passes packets on untouched until it
	// is replaced (replace, replace-drop or set make a new instance).
	Failed string
}

func (s *slot) stats() BlockStats {
	st := BlockStats{Drops: map[string]uint64{}}
	var ns, np uint64
	for i := range s.c {
		c := &s.c[i]
		st.Packets += c.packets.Load()
		st.Bytes += c.bytes.Load()
		st.Vectors += c.vectors.Load()
		ns += c.sampledNs.Load()
		np += c.sampledPkts.Load()
		for r, name := range s.reasons {
			if n := c.drops[r].Load(); n > 0 {
				st.Drops[name] += n
			}
		}
	}
	if np > 0 {
		st.NsPerPacket = float64(ns) / float64(np)
	}
	st.Panics = s.health.panics.Load()
	return st
}

// Engine-level drop reasons, counted per queue.
const (
	dropUnbound   = iota // continued past the last block of a path
	dropLoop             // exceeded the path depth (turn-around ping-pong)
	dropTxFull           // TX ring had no room
	dropUnhooked         // no entry block
	dropBadInject        // injected frame for a block that is gone
	numQueueDrops
)

var queueDropNames = [numQueueDrops]string{"unbound", "loop", "tx-full", "unhooked", "bad-inject"}

// queueCounters are one worker's queue counters and frame accounting.
// Written by the worker only (plain load + atomic store), read by anyone.
type queueCounters struct {
	rxPackets atomic.Uint64
	rxBytes   atomic.Uint64
	txPackets atomic.Uint64
	vectors   atomic.Uint64
	idle      atomic.Uint64 // empty receive rounds
	polls     atomic.Uint64 // Poll calls
	swaps     atomic.Uint64 // graph versions picked up
	yields    atomic.Uint64 // runtime.Gosched calls before sleeps (YieldEvery)
	drops     [numQueueDrops]atomic.Uint64
	// Frame accounting.
	free     atomic.Uint64 // frames on the worker's free list
	refilled atomic.Uint64 // frames given to the fill ring, ever
	received atomic.Uint64 // frames taken from the RX ring, ever
	sent     atomic.Uint64 // frames given to the TX ring, ever
	complete atomic.Uint64 // frames taken from the completion ring, ever
	consumed atomic.Uint64 // frames handed to blocks (VerdictConsumed), ever; Port.Alloc's count is the spare ring's head
	released atomic.Uint64 // frames given back by owners, ever
	// fillTarget is the worker's current fill goal (WorkerConfig.FillTarget).
	fillTarget atomic.Uint64
	_          [cacheLine]byte
}

// QueueStats are one worker's queue counters.
type QueueStats struct {
	RxPackets, RxBytes, TxPackets uint64
	Vectors, Idle, Polls, Swaps   uint64
	// Yields counts the worker's yields to the Go scheduler, at most one
	// per YieldEvery before a sleep in Poll (see Worker.Run).
	Yields uint64
	// Drops counts engine-level drops by reason: unbound, loop, tx-full,
	// unhooked, bad-inject.
	Drops map[string]uint64
	// FillTarget is how many frames the worker now leaves in the kernel's
	// hands: WorkerConfig.FillTarget, doubled after each receive that left
	// the kernel less than a quarter of it, halved again after 65,536 calm
	// vectors.
	FillTarget int
	Frames     FrameCounts
}

// FrameCounts tell where a worker's frames are. Free + Spare + Kernel +
// InTX + Held always equals Total (read while the worker is quiet; a
// snapshot of a running worker can be off by the frames moving); a leak
// shows as a frame missing from the rings the test can inspect while these
// counters still balance.
type FrameCounts struct {
	Total int
	// Free frames are on the worker's free list.
	Free int
	// Spare frames wait in the worker's spare ring for Port.Alloc.
	Spare int
	// Kernel frames are in the fill or RX ring (given by Refill, not yet Received).
	Kernel int
	// InTX frames are in the TX or completion ring.
	InTX int
	// Held frames were consumed by blocks or taken with Port.Alloc, and
	// not yet released, freed or sent.
	Held int
}

// stats reads the counters; spare and allocated come from the spare ring
// (frames in it now, frames taken from it ever).
func (q *queueCounters) stats(total int, spare, allocated uint64) QueueStats {
	s := QueueStats{
		RxPackets: q.rxPackets.Load(), RxBytes: q.rxBytes.Load(), TxPackets: q.txPackets.Load(),
		Vectors: q.vectors.Load(), Idle: q.idle.Load(), Polls: q.polls.Load(), Swaps: q.swaps.Load(),
		Yields: q.yields.Load(), Drops: map[string]uint64{}, FillTarget: int(q.fillTarget.Load()),
	}
	for i, n := range queueDropNames {
		if v := q.drops[i].Load(); v > 0 {
			s.Drops[n] = v
		}
	}
	s.Frames = FrameCounts{
		Total:  total,
		Free:   int(q.free.Load()),
		Kernel: int(q.refilled.Load() - q.received.Load()),
		InTX:   int(q.sent.Load() - q.complete.Load()),
		Spare:  int(spare),
		Held:   int(q.consumed.Load() + allocated - q.released.Load()),
	}
	return s
}
