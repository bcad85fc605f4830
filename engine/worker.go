package engine

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lana-net/lana/internal/goyield"
	"github.com/lana-net/lana/xsk"
)

// PollMode says what a worker does when its RX ring is empty. The package
// doc ("Poll modes") has the measured trade-off; in short: busy when the
// worker has a core to itself, wakeup when it shares one with the kernel's
// receive work (veth, copy-mode AF_XDP with NAPI on the same CPU).
type PollMode uint8

const (
	// PollBusy spins on the RX ring: the lowest latency when the worker
	// has a CPU of its own, that CPU at 100% even when idle. On a CPU
	// shared with the NAPI thread that fills the ring it collapses (the
	// spinning worker holds the CPU the kernel needs to deliver).
	PollBusy PollMode = iota
	// PollWakeup sleeps in Queue.Poll after every empty round: no CPU when
	// idle, a wakeup (a context switch) whenever the ring ran dry. The
	// best mode when the worker shares its CPU with the receive path.
	PollWakeup
	// PollAdaptive spins WorkerConfig.Spin empty rounds, then sleeps in
	// Poll: busy's latency for back-to-back vectors, wakeup's idle cost;
	// the spin is paid on every gap in the traffic.
	PollAdaptive
)

// String returns busy, wakeup or adaptive.
func (m PollMode) String() string {
	return [...]string{"busy", "wakeup", "adaptive"}[m]
}

// WorkerConfig describes one NIC queue and how its worker runs.
type WorkerConfig struct {
	// Queue is the queue's rings; the worker alone calls its methods.
	Queue Queue
	// UMEM holds the queue's frames (Socket.UMEM() or MemQueue.UMEM()).
	UMEM *xsk.UMEM
	// Frames are the base addresses of the frames this worker owns; at start
	// FillTarget of them go to the fill ring, the rest wait on the free
	// list. Default: every frame of UMEM (right for one queue per UMEM).
	Frames []uint64
	// QueueID is stored in every packet's Queue field.
	QueueID uint16
	// Pin, when true, pins the worker's OS thread to CPU.
	Pin bool
	// CPU is the CPU to pin to when Pin is set.
	CPU int
	// Mode is the idle strategy; Spin the empty rounds before adaptive
	// sleeps (default 256); PollTimeout the longest sleep where the worker
	// cannot count on being woken: over a queue that is not Wakeable, or
	// while frames it sent wait on the TX ring (default 10ms). Over a
	// Wakeable queue with nothing in flight it sleeps until frames arrive or
	// it is woken. A sleeping worker holds no graph, so reconfiguration
	// never waits for it either way.
	Mode        PollMode
	Spin        int
	PollTimeout time.Duration
	// Reserve frames stay on the free list for tee clones (default: the
	// vector size).
	Reserve int
	// FillTarget is how many frames the worker leaves in the kernel's
	// hands (fill ring, and frames taken from it but not yet on the RX
	// ring); the rest wait on the free list, newest on top, and the
	// newest go to the fill ring first (default DefaultFillTarget; at
	// most Frames; negative: every frame). A small set of frames in
	// rotation keeps the kernel's copy into them and the blocks' reads
	// of them in the caches and TLB. When a receive leaves the kernel
	// less than a quarter of it (a burst the worker was slow to meet),
	// the worker doubles it, up to every frame, and after 65,536 vectors
	// without that halves it again, down to FillTarget;
	// QueueStats.FillTarget shows the current value.
	FillTarget int
	// HandoffSize is the capacity of the lock-free queue through which other
	// goroutines hand frames to the worker; a power of two (default 1024).
	HandoffSize int
	// Spare is the capacity of the ring of free frames the worker keeps for
	// other goroutines (Port.Alloc); a power of two (default 64). The
	// worker fills it at start and tops it up (with frames beyond Reserve,
	// before the fill ring gets them) whenever it falls below half. Its
	// frames are not available to the kernel for receiving.
	Spare int
	// OnVector, when set, is called by the worker once per received vector,
	// after the vector went through the graph and its frames are back in
	// the fill ring (or on their way out), with the worker's running total
	// of frames taken from its RX ring. It lets anything observe a worker's
	// progress without a shared counter on the hot path: lanad and rxbench
	// publish the total to a pace map for the traffic generator.
	//
	// It runs on the worker's goroutine, inside the data path: it must not
	// block, allocate or call back into the engine; a slow callback slows
	// the queue. Nil (the default) costs one predictable branch per vector.
	OnVector func(received uint64)
}

// DefaultFillTarget is WorkerConfig.FillTarget's default. In the lab (veth,
// copy mode, 4,096 frames of 4 KiB, eth -> dummy -> dummy) a worker that
// switched between targets every 100 ms took 8% more frames with 1,024
// frames in rotation than with every frame, and 18% more with 512; lab runs
// of separate processes, noisier, put 512 between level and 11% ahead
// (docs/performance.md, "Frames in rotation"). 512 is also a common NIC RX
// ring size; it covers a 34 µs gap in the worker's service at 14.88 Mpps
// (64-byte frames at 10 Gb/s) before the target grows.
const DefaultFillTarget = 512

// parked is the quiescence word of a worker that holds no graph reference.
const parked = math.MaxUint64

// YieldEvery is how long a worker that sleeps in Poll goes at most without
// yielding to the Go scheduler (internal/goyield has why). Measured under
// lanad on veth: sysmon woke 4,229 times a second on the control cpu without
// the yield and 99 times with it, and lanad-3 gained 4–6% and lanad-swap
// 2–8% in the lab (docs/performance.md).
const YieldEvery = goyield.Every

// maxHops bounds the blocks one packet may visit (turn-around ping-pong
// ends in a "loop" drop).
const maxHops = 64

// Worker runs one queue: receive a vector, walk it through the current
// compiled graph, recycle, transmit. Every field below `seen` is owned by the
// worker goroutine; other goroutines use only Release and Send.
type Worker struct {
	idx int
	e   *Engine

	// seen is the generation of the graph the worker uses, 0 while it is
	// loading one, parked when it holds none. Written by the worker, read by
	// the control plane's quiescence wait.
	seen atomic.Uint64
	// sleeping is set by the worker just before it sleeps in Poll (then it
	// looks for work once more) and cleared when it wakes; a goroutine that
	// handed it work and finds it set clears it and wakes the queue. Only
	// ever set over a Wakeable queue.
	sleeping atomic.Bool
	_        [cacheLine]byte

	handoff *mpsc
	spare   *spareRing
	ctr     queueCounters

	running sync.Mutex // held while Run executes
	cfg     WorkerConfig
	q       Queue
	waker   Wakeable     // q when it is one, else nil
	backlog backlogQueue // q when it is one, else nil
	umem    *xsk.UMEM
	fsize   uint32
	fmask   uint64
	total   int

	g         *compiled
	vsize     int
	free      []uint64 // free frame bases (stack)
	rx        []Desc
	tx        []Desc
	comp      []uint64
	vecs      []*Vector
	targets   [][]int32    // per level scratch: target node of each packet
	txOut     int          // frames in TX + completion rings
	fillGoal  int          // frames to keep in the kernel's hands (cfg.FillTarget, grown)
	fillBase  int          // cfg.FillTarget after defaults: where fillGoal shrinks back to
	fillCalm  int          // vectors received since fillGoal last changed
	spareLow  uint64       // top the spare ring up below this many frames
	spareTail uint64       // spare.tail's value; the worker is its only writer
	handed    int          // frames taken from the hand-off queue in the last step
	onVector  func(uint64) // cfg.OnVector, next to the fields step reads
	lastGen   uint64       // generation of the last graph used, for the swaps counter
	dueRounds uint32       // rounds while a chain waits (Engine.Schedule)
	nvec      uint64
	yield     goyield.Timer // when to yield to the Go scheduler next
	drops     [numQueueDrops]uint64
}

func newWorker(e *Engine, idx, vsize int, cfg WorkerConfig) (*Worker, error) {
	if cfg.Queue == nil {
		return nil, fmt.Errorf("worker %d: nil queue: %w", idx, ErrConfig)
	}
	if cfg.UMEM == nil {
		return nil, fmt.Errorf("worker %d: nil umem: %w", idx, ErrConfig)
	}
	fs := cfg.UMEM.FrameSize()
	if len(cfg.Frames) == 0 {
		cfg.Frames = cfg.UMEM.FrameAddrs(0, cfg.UMEM.FrameCount())
	}
	for _, a := range cfg.Frames {
		if a&uint64(fs-1) != 0 || a+uint64(fs) > uint64(cfg.UMEM.Size()) {
			return nil, fmt.Errorf("worker %d: frame %#x: must be frame-aligned inside the %d-byte umem: %w", idx, a, cfg.UMEM.Size(), ErrConfig)
		}
	}
	if cfg.Spin <= 0 {
		cfg.Spin = 256
	}
	if cfg.PollTimeout <= 0 {
		cfg.PollTimeout = 10 * time.Millisecond
	}
	if cfg.Reserve <= 0 {
		cfg.Reserve = vsize
	}
	if cfg.HandoffSize <= 0 {
		cfg.HandoffSize = 1024
	}
	if cfg.HandoffSize&(cfg.HandoffSize-1) != 0 {
		return nil, fmt.Errorf("worker %d: handoff size %d: must be a power of two: %w", idx, cfg.HandoffSize, ErrConfig)
	}
	if cfg.Spare <= 0 {
		cfg.Spare = 64
	}
	if cfg.Spare&(cfg.Spare-1) != 0 {
		return nil, fmt.Errorf("worker %d: spare size %d: must be a power of two: %w", idx, cfg.Spare, ErrConfig)
	}
	w := &Worker{idx: idx, e: e, cfg: cfg, q: cfg.Queue, umem: cfg.UMEM, fsize: fs, fmask: uint64(fs - 1),
		total: len(cfg.Frames), vsize: vsize, handoff: newMPSC(cfg.HandoffSize), onVector: cfg.OnVector,
		spare: newSpareRing(cfg.Spare), spareLow: uint64(cfg.Spare / 2)}
	w.fillGoal = cfg.FillTarget
	if w.fillGoal == 0 {
		w.fillGoal = DefaultFillTarget
	}
	if w.fillGoal < 0 || w.fillGoal > w.total {
		w.fillGoal = w.total
	}
	w.fillBase = w.fillGoal
	w.ctr.fillTarget.Store(uint64(w.fillGoal))
	w.seen.Store(parked)
	w.waker, _ = cfg.Queue.(Wakeable)
	w.backlog, _ = cfg.Queue.(backlogQueue)
	w.free = make([]uint64, 0, len(cfg.Frames))
	w.free = append(w.free, cfg.Frames...)
	w.rx = make([]Desc, vsize)
	w.tx = make([]Desc, 0, vsize)
	w.comp = make([]uint64, vsize)
	w.vecs = make([]*Vector, maxHops+1)
	w.targets = make([][]int32, maxHops+1)
	for i := range w.vecs {
		w.vecs[i] = newVector(vsize, w)
		w.vecs[i].Worker = idx
		w.targets[i] = make([]int32, vsize)
	}
	w.topUp() // Alloc works before the worker first runs
	w.ctr.free.Store(uint64(len(w.free)))
	return w, nil
}

// Index returns the worker's index.
func (w *Worker) Index() int { return w.idx }

// Stats returns the worker's queue counters; safe from any goroutine.
func (w *Worker) Stats() QueueStats {
	// head before tail: tail only grows and is never behind head, so
	// Spare is never negative.
	taken := w.spare.head.Load()
	return w.ctr.stats(w.total, w.spare.tail.Load()-taken, taken)
}

// Release gives a consumed frame (by its base or any address inside it)
// back to the worker. Safe from any goroutine; ErrQueueFull when the
// hand-off queue is full (retry later).
func (w *Worker) Release(addr uint64) error {
	if !w.handoff.push(handoff{addr: addr &^ w.fmask, slot: -1}) {
		return ErrQueueFull
	}
	w.wake()
	return nil
}

// wake ends the worker's sleep in Poll, or the sleep it is about to take,
// after the caller handed it work: one eventfd write per sleep, shared by
// every caller (the first clears the flag), and no more than a load of a
// clean cache line while the worker is awake. Safe from any goroutine.
//
// No wakeup is lost: the caller publishes its work (an atomic store) before
// it loads the flag, and the worker stores the flag before it looks for
// work (announceSleep). Go's atomics are sequentially consistent, so either
// the worker sees the work and stays up, or the caller sees the flag.
func (w *Worker) wake() {
	if w.sleeping.Load() && w.sleeping.CompareAndSwap(true, false) {
		_ = w.waker.Wake() // fails only once the queue closed: no one to wake
	}
}

// announceSleep sets the sleeping flag, then looks once more for work that
// arrived before the flag was visible: hand-offs, a spare ring drained
// below half while frames could top it up, a stop. It reports whether the
// worker may sleep; if not, the flag is cleared again. Worker only.
func (w *Worker) announceSleep() bool {
	w.sleeping.Store(true)
	if w.handoff.ready() || w.e.stopping.Load() ||
		w.spareTail-w.spare.head.Load() < w.spareLow && len(w.free) > w.cfg.Reserve {
		w.sleeping.Store(false)
		return false
	}
	return true
}

// FreeFrames returns the free list's frames (a copy). Call only when the
// worker is not running; tests use it to account for every frame.
func (w *Worker) FreeFrames() []uint64 { return append([]uint64(nil), w.free...) }

// Run drives the worker on the calling goroutine until the engine stops:
// it locks the OS thread, pins it when configured and polls per Mode.
func (w *Worker) Run() error {
	if !w.running.TryLock() {
		return fmt.Errorf("worker %d: already running: %w", w.idx, ErrConfig)
	}
	defer w.running.Unlock()
	runtime.LockOSThread()
	if w.cfg.Pin {
		// The thread stays locked when Run returns: the runtime then ends
		// it with the goroutine instead of handing a thread pinned to the
		// worker's CPU to arbitrary goroutines. Its cpus are restored too:
		// the runtime cannot end the process's main thread (m0), where the
		// worker may have started, and keeps it asleep instead.
		restore, err := pin(w.cfg.CPU)
		if err != nil {
			return fmt.Errorf("worker %d: pin to cpu %d: %w", w.idx, w.cfg.CPU, err)
		}
		defer func() { _ = restore() }() // fails only if the thread is gone
	} else {
		defer runtime.UnlockOSThread()
	}
	w.unpark()
	defer w.park()
	w.yield = goyield.New()
	empty := 0
	for {
		if w.e.stopping.Load() {
			w.publish()
			return nil
		}
		if w.step() > 0 || w.handed > 0 {
			empty = 0
			continue
		}
		empty++
		add(&w.ctr.idle, 1)
		if w.cfg.Mode == PollBusy || w.cfg.Mode == PollAdaptive && empty < w.cfg.Spin {
			continue
		}
		w.yieldIfDue()
		w.beforeSleep()
		if w.waker != nil && !w.announceSleep() {
			continue
		}
		w.park()
		add(&w.ctr.polls, 1)
		w.q.Poll(w.sleepTimeout())
		w.sleeping.Store(false)
		w.unpark()
	}
}

// sleepTimeout is how long the worker may sleep in Poll. Over a Wakeable
// queue with nothing of its own on the TX ring, everything that has work for
// the worker either shows on the RX ring or wakes it (see the package doc),
// so it sleeps with no timeout: no timer armed and cancelled around every
// sleep, which on a CPU shared with the kernel's receive work cost about 7%
// of the lab's lanad-3 rate (docs/performance.md). Frames on the TX ring come
// back through the completion ring, which does not end a Poll, so then, and
// over other queues, it sleeps at most PollTimeout.
func (w *Worker) sleepTimeout() time.Duration {
	if w.waker != nil && w.txOut == 0 {
		return -1
	}
	return w.cfg.PollTimeout
}

// yieldIfDue yields to the Go scheduler when YieldEvery has passed since
// the last yield, and counts it. Worker goroutine only.
func (w *Worker) yieldIfDue() {
	if w.yield.Maybe() {
		add(&w.ctr.yields, 1)
	}
}

// RunOnce processes at most one vector without waiting and returns the
// number of packets received. Between calls the worker holds no graph
// reference, so reconfiguration never waits on a caller that stopped
// calling. For benchmarks and tests that play the kernel's side; never
// call it while Run is active on the same worker.
func (w *Worker) RunOnce() int {
	w.unpark()
	n := w.step()
	w.park()
	return n
}

// beforeSleep reaps completions and tops up the spare ring, so that
// allocators find frames while the worker sleeps in Poll (Alloc refuses
// instead of waiting; over a Wakeable queue it wakes the worker too).
func (w *Worker) beforeSleep() {
	if w.txOut > 0 {
		w.complete()
	}
	if w.spareTail-w.spare.head.Load() < uint64(len(w.spare.cells)) {
		w.topUp()
	}
	w.refill()
	w.publish()
}

// park drops the worker's graph reference (quiescent until unpark).
func (w *Worker) park() {
	w.announce(parked)
	w.g = nil
}

// unpark announces "active, generation unknown" before loading the graph,
// so a concurrent quiescence check either sees 0 and waits, or happened
// before the load and then the load sees the newest graph.
func (w *Worker) unpark() {
	w.seen.Store(0)
	g := w.e.cur.Load()
	w.g = g
	w.announce(g.gen)
}

// announce stores the worker's quiescence word and, when the control plane
// waits for workers to leave an old graph, tells it to look again. Storing
// before loading the flag pairs with Engine.quiesce, which sets the flag
// before it loads the word: one of the two sees the other's store.
func (w *Worker) announce(seen uint64) {
	w.seen.Store(seen)
	if w.e.quiescing.Load() {
		select {
		case w.e.quiesced <- struct{}{}:
		default: // a token is pending already: the waiter looks anyway
		}
	}
}

// dueEvery is how many rounds a worker lets pass between two looks at the
// clock while a scheduled transaction waits: a clock read costs about 25ns,
// a round of a full vector over memory about 800ns.
const dueEvery = 8

// step is one round: completions, hand-offs, receive, pipeline, transmit,
// refill. Worker goroutine only.
func (w *Worker) step() int {
	if d := w.e.due.Load(); d != noneDue {
		// A chain waits: read the clock every dueEvery rounds.
		if w.dueRounds++; w.dueRounds%dueEvery == 0 && time.Duration(d) <= time.Since(w.e.epoch) {
			w.e.tryPublishDue()
		}
	}
	if g := w.e.cur.Load(); g != w.g {
		w.g = g
		w.announce(g.gen)
	}
	if w.g.gen != w.lastGen {
		w.lastGen = w.g.gen
		add(&w.ctr.swaps, 1)
	}
	if w.txOut > 0 {
		w.complete()
	}
	w.drainHandoff()
	v := w.vecs[0]
	n := w.q.Receive(w.rx[:w.vsize])
	if n > 0 {
		w.nvec++
		pk := v.Pkts[:n]
		var bytes uint64
		// Locals: the stores through p below would make the compiler load
		// the worker's fields again for every packet.
		qid, fmask, fsize, umem := w.cfg.QueueID, w.fmask, w.fsize, w.umem
		for i, d := range w.rx[:n] {
			base := d.Addr &^ fmask
			off := uint32(d.Addr - base)
			p := &pk[i]
			p.frame = umem.Frame(base, fsize)
			p.Addr, p.head, p.tail = base, off, off+d.Len
			p.Queue, p.EtherType, p.VLAN, p.Port, p.L3 = qid, 0, 0, 0, 0
			bytes += uint64(d.Len)
		}
		v.Pkts = pk
		add(&w.ctr.received, uint64(n))
		w.adjustFill(n)
		add(&w.ctr.rxPackets, uint64(n))
		add(&w.ctr.rxBytes, bytes)
		add(&w.ctr.vectors, 1)
		if w.g.entry < 0 {
			w.dropAll(v, dropUnhooked)
		} else {
			w.run(w.g.entry, v, 0, 0, int64(bytes))
		}
	}
	if len(w.tx) > 0 {
		w.flushTX()
	}
	if w.spareTail-w.spare.head.Load() < w.spareLow {
		w.topUp()
	}
	w.refill()
	w.publish()
	if n > 0 && w.onVector != nil {
		w.onVector(w.ctr.received.Load())
	}
	return n
}

// publish stores the worker-local counters that are not updated in place.
func (w *Worker) publish() {
	for i, d := range w.drops {
		if d != 0 {
			add(&w.ctr.drops[i], d)
			w.drops[i] = 0
		}
	}
	w.ctr.free.Store(uint64(len(w.free)))
}

// refill gives free frames beyond the reserve to the fill ring until the
// kernel holds fillGoal of them, the most recently freed first: those are
// the frames whose lines and pages are most likely still cached.
func (w *Worker) refill() {
	k := min(len(w.free)-w.cfg.Reserve, w.fillGoal-w.kernelHeld())
	if k <= 0 {
		return
	}
	top := len(w.free) - k
	m := w.q.Refill(w.free[top:])
	if m == 0 {
		return
	}
	rest := copy(w.free[top:], w.free[top+m:])
	w.free = w.free[:top+rest]
	add(&w.ctr.refilled, uint64(m))
}

// kernelHeld is how many frames the worker gave the fill ring and has not
// received back yet (FrameCounts.Kernel). Worker only.
func (w *Worker) kernelHeld() int { return int(w.ctr.refilled.Load() - w.ctr.received.Load()) }

// fillLow reports whether the kernel was left less than a quarter of the
// fill goal to receive into: the frames it holds minus those waiting on the
// RX ring. Only a full vector of n can have left some waiting. Worker only.
func (w *Worker) fillLow(n int) bool {
	left := w.kernelHeld()
	if n == w.vsize && w.backlog != nil {
		left -= w.backlog.Backlog()
	}
	return left < w.fillGoal/4
}

// fillCalmVectors is how many received vectors without the kernel running
// low halve a grown fill goal (down to the configured one): about 4 million
// frames in full vectors, a second or two of a busy queue.
const fillCalmVectors = 1 << 16

// adjustFill moves the fill goal after a receive of n frames: it doubles,
// up to every frame, when the kernel ran low (fillLow), and a grown goal
// halves again, down to the configured one, after fillCalmVectors vectors
// without that. Worker only.
func (w *Worker) adjustFill(n int) {
	goal := w.fillGoal
	switch {
	case goal < w.total && w.fillLow(n):
		goal = min(2*goal, w.total)
	case goal > w.fillBase:
		if w.fillCalm++; w.fillCalm < fillCalmVectors {
			return
		}
		goal = max(goal/2, w.fillBase)
	default:
		return
	}
	w.fillGoal, w.fillCalm = goal, 0
	w.ctr.fillTarget.Store(uint64(goal))
}

// complete moves completed TX frames to the free list.
func (w *Worker) complete() {
	m := w.q.Complete(w.comp)
	for _, a := range w.comp[:m] {
		w.free = append(w.free, a&^w.fmask)
	}
	w.txOut -= m
	add(&w.ctr.complete, uint64(m))
}

// flushTX hands queued TX descriptors to the ring; those it refuses are
// dropped (tx-full) and their frames freed.
func (w *Worker) flushTX() {
	m := w.q.Transmit(w.tx)
	for _, d := range w.tx[m:] {
		w.free = append(w.free, d.Addr&^w.fmask)
	}
	w.drops[dropTxFull] += uint64(len(w.tx) - m)
	w.txOut += m
	add(&w.ctr.sent, uint64(m))
	add(&w.ctr.txPackets, uint64(m))
	w.tx = w.tx[:0]
}

// drainHandoff takes frames handed over by other goroutines: releases go to
// the free list, sends start down their block's egress path.
func (w *Worker) drainHandoff() {
	h, ok := w.handoff.pop()
	w.handed = 0
	if !ok {
		return
	}
	v := w.vecs[0]
	v.Pkts = v.Pkts[:0]
	slot := int32(-2)
	flush := func() {
		if len(v.Pkts) == 0 {
			return
		}
		if ni, ok := w.g.egressBySlot[uint32(slot)]; !ok || slot < 0 {
			w.dropAll(v, dropBadInject)
		} else {
			w.run(ni, v, 0, 0, -1)
		}
		v.Pkts = v.Pkts[:0]
	}
	n := 0
	for ; ok && n < len(w.handoff.cells); n++ {
		if h.slot < 0 {
			w.free = append(w.free, h.addr)
			add(&w.ctr.released, 1)
		} else {
			add(&w.ctr.released, 1)
			if h.slot != slot || len(v.Pkts) == w.vsize {
				flush()
				slot = h.slot
			}
			base := h.addr
			v.Pkts = append(v.Pkts, Packet{frame: w.umem.Frame(base, w.fsize),
				Addr: base, head: h.off, tail: h.off + h.len, Queue: w.cfg.QueueID})
		}
		h, ok = w.handoff.pop()
	}
	flush()
	w.handed = n
}

// freeFrame puts a frame on the free list.
func (w *Worker) freeFrame(addr uint64) { w.free = append(w.free, addr&^w.fmask) }

// clone copies p into a free frame.
func (w *Worker) clone(p *Packet) (Packet, bool) {
	n := len(w.free)
	if n == 0 {
		return Packet{}, false
	}
	base := w.free[n-1]
	w.free = w.free[:n-1]
	c := *p
	c.frame = w.umem.Frame(base, w.fsize)
	c.Addr = base
	copy(c.frame[c.head:c.tail], p.frame[p.head:p.tail])
	return c, true
}

// dropAll frees every frame of v, counting an engine-level reason.
func (w *Worker) dropAll(v *Vector, reason int) {
	n := len(w.free)
	w.free = slices.Grow(w.free, len(v.Pkts))[:n+len(v.Pkts)]
	for i := range v.Pkts {
		w.free[n+i] = v.Pkts[i].Addr
	}
	w.drops[reason] += uint64(len(v.Pkts))
}

// run walks v from node ni. A vector whose packets all go the same way
// stays in place (no copy, no recursion); mixed verdicts split it into
// per-target vectors one level deeper. bytes is the total length of v's
// packets when the caller knows it, else -1; a block's byte counter counts
// what entered it, added up again only after a block that may change
// lengths (Info.KeepsLength).
func (w *Worker) run(ni int32, v *Vector, level, hops int, bytes int64) {
	g := w.g
	for {
		if ni < 0 {
			w.dropAll(v, dropUnbound)
			return
		}
		if hops >= maxHops {
			w.dropAll(v, dropLoop)
			return
		}
		hops++
		nd := &g.nodes[ni]
		n := len(v.Pkts)
		vd := v.verdicts[:n]
		clear(vd)
		v.Dir = nd.dir
		v.emitted = v.emitted[:0]
		v.emitOut = v.emitOut[:0]
		c := &nd.slot.c[w.idx]
		if nd.slot.health.failed.Load() != nil && nd.slot.health.failedInst(nd.block) {
			ni = nd.next[0] // a failed block passes packets on (recover.go)
			continue
		}
		if bytes < 0 {
			var sum uint64
			for i := range v.Pkts {
				sum += uint64(v.Pkts[i].tail - v.Pkts[i].head)
			}
			bytes = int64(sum)
		}
		add(&c.bytes, uint64(bytes))
		if w.nvec&63 == 0 {
			t0 := time.Now()
			w.process(nd, v)
			add(&c.sampledNs, uint64(time.Since(t0)))
			add(&c.sampledPkts, uint64(n))
		} else {
			w.process(nd, v)
		}
		if !nd.keepsLength {
			bytes = -1 // the block may have changed lengths
		}
		first := vd[0]
		same := allEqual(vd, first)
		add(&c.packets, uint64(n))
		add(&c.vectors, 1)
		if same && len(v.emitted) == 0 {
			switch {
			case first == VerdictContinue:
				ni = nd.next[0]
				continue
			case first >= verdictOutput:
				ni = -1
				if k := int(first-verdictOutput) + 1; k < len(nd.next) {
					ni = nd.next[k]
				}
				continue
			case first == VerdictTurnAround:
				ni = nd.turn
				continue
			}
		}
		w.dispatch(nd, v, level, hops)
		return
	}
}

// allEqual reports whether every verdict of vd is v, eight at a time.
func allEqual(vd []Verdict, v Verdict) bool {
	word := uint64(v) * 0x0101010101010101
	i := 0
	for ; i+8 <= len(vd); i += 8 {
		if uint64(vd[i])|uint64(vd[i+1])<<8|uint64(vd[i+2])<<16|uint64(vd[i+3])<<24|
			uint64(vd[i+4])<<32|uint64(vd[i+5])<<40|uint64(vd[i+6])<<48|uint64(vd[i+7])<<56 != word {
			return false
		}
	}
	for ; i < len(vd); i++ {
		if vd[i] != v {
			return false
		}
	}
	return true
}

// dispatch settles the sinks (drop, consume, transmit) of a processed
// vector and sends the rest on, grouped by target in order of first
// appearance, followed by emitted packets.
func (w *Worker) dispatch(nd *node, v *Vector, level, hops int) {
	tg := w.targets[level][:len(v.Pkts)]
	c := &nd.slot.c[w.idx]
	var dropped [MaxReasons]uint64
	pending := 0
	for i := range v.Pkts {
		p := &v.Pkts[i]
		t := int32(-2) // settled
		switch vd := v.verdicts[i]; {
		case vd == VerdictContinue:
			t = nd.next[0]
		case vd == VerdictDrop:
			r := v.reasons[i]
			if int(r) >= nd.reasons {
				r = 0
			}
			dropped[r]++
			w.free = append(w.free, p.Addr)
		case vd == VerdictConsumed:
			add(&w.ctr.consumed, 1)
		case vd == VerdictTransmit:
			w.transmit(p)
		case vd == VerdictTurnAround:
			t = nd.turn
		default:
			t = -1
			if k := int(vd-verdictOutput) + 1; k < len(nd.next) {
				t = nd.next[k]
			}
		}
		if t == -1 {
			w.free = append(w.free, p.Addr)
			w.drops[dropUnbound]++
			t = -2
		}
		tg[i] = t
		if t >= 0 {
			pending++
		}
	}
	for r, d := range dropped[:max(nd.reasons, 1)] {
		if d != 0 {
			add(&c.drops[r], d)
		}
	}
	if level+1 >= len(w.vecs) {
		// Too deep: settle what is left as loop drops.
		for i, t := range tg {
			if t >= 0 {
				w.free = append(w.free, v.Pkts[i].Addr)
				w.drops[dropLoop]++
			}
		}
		for i := range v.emitted {
			w.free = append(w.free, v.emitted[i].Addr)
			w.drops[dropLoop]++
		}
		return
	}
	child := w.vecs[level+1]
	for start := 0; pending > 0; {
		for tg[start] < 0 {
			start++
		}
		t := tg[start]
		child.Pkts = child.Pkts[:0]
		for i := start; i < len(tg); i++ {
			if tg[i] == t {
				child.Pkts = append(child.Pkts, v.Pkts[i])
				tg[i] = -2
				pending--
			}
		}
		w.run(t, child, level+1, hops, -1)
	}
	if len(v.emitted) > 0 {
		w.runEmitted(nd, v, level, hops)
	}
}

// runEmitted sends a block's emitted packets to their outputs.
func (w *Worker) runEmitted(nd *node, v *Vector, level, hops int) {
	child := w.vecs[level+1]
	em, outs := v.emitted, v.emitOut
	for len(em) > 0 {
		k := outs[0]
		j := 1
		for j < len(em) && outs[j] == k {
			j++
		}
		t := int32(-1)
		if int(k)+1 < len(nd.next) {
			t = nd.next[int(k)+1]
		}
		child.Pkts = append(child.Pkts[:0], em[:j]...)
		w.run(t, child, level+1, hops, -1)
		em, outs = em[j:], outs[j:]
	}
}

// transmit queues p for the TX ring, flushing a full batch.
func (w *Worker) transmit(p *Packet) {
	if len(w.tx) == cap(w.tx) {
		w.flushTX()
	}
	w.tx = append(w.tx, p.desc())
}
