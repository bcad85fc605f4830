// Package engine moves packets through a hot-swappable graph of functional
// blocks: one pinned worker goroutine per NIC queue receives a vector of up
// to VectorSize frames from its AF_XDP rings, calls each block once per
// vector, and recycles, transmits or hands over every frame.
//
// # Pieces
//
//   - Packet and Vector: a Packet is a view into its UMEM frame (data with
//     adjustable head and tail inside the headroom, the frame address and a
//     little parsed metadata). Vectors are preallocated per worker.
//   - Block: Configure -> Info -> Start -> TakeState (on replace) ->
//     Process* -> Close. Blocks register by type name in init().
//   - Graph: the mutable description the control plane edits with verbs
//     (add, rm, set, bind, unbind, replace, replace-drop, subscribe,
//     unsubscribe, hook, unhook). Engine.Apply runs a list of verbs as one
//     transaction and compiles the result into an immutable structure of
//     nodes and next indexes that workers follow without map lookups.
//   - Worker: the data path. See WorkerConfig for pinning and poll modes,
//     and WorkerConfig.OnVector to observe a worker's progress (called on
//     the worker once per received vector with its running receive total;
//     nil costs one branch).
//
// # Lifetimes and traps
//
// A Packet, its Data slice and the Vector are valid only during the Process
// call. A block that wants a frame beyond that returns VerdictConsumed and
// keeps Packet.Addr; it must give the frame back to the same worker through
// Worker.Release or Port.Send, from any goroutine.
//
// Frames in rotation: a worker does not give the kernel every free frame.
// It keeps WorkerConfig.FillTarget of them (default 512) in the kernel's
// hands and hands back the frames it freed last, so the kernel's copies
// and the blocks' reads keep to a small set of frames whose pages stay in
// the TLB and caches; the rest wait on the free list. A receive that finds
// the kernel below a quarter of its share (what it holds minus the RX
// ring's backlog) doubles the target, up to every frame; 65,536 vectors
// without that halve it again, down to the configured one.
//
// Goroutines outside the data path (an application's socket handler, a
// TAP reader) get frames with Port.Alloc: each worker keeps a small ring of
// spare frames (WorkerConfig.Spare) that it tops up from its free list
// (frames beyond the tee reserve, before the fill ring gets them) when the
// ring is below half, checked once per round with one load and a compare,
// and again before it sleeps in Poll. Alloc takes a frame with a CAS and
// never waits: on an empty ring it reports false at once and the caller
// retries later. The frame then goes out with Port.Send or back with
// Port.Free. A worker that took hand-offs in a round does not sleep after
// it, and a sleeping one is woken, so a sender is not paced by PollTimeout.
//
// Waking a sleeping worker: over a Wakeable queue (*xsk.Socket: an eventfd
// polled next to the socket) the worker sets a "sleeping" flag before it
// polls, then looks once more for hand-offs (and a drained spare ring it
// can top up). Send, Free, Release and an Alloc that finds the spare ring
// empty publish their work first, then load the flag, and only when it is
// set clear it and call Queue.Wake: no syscall while the worker is awake,
// one per sleep however many goroutines send, and no lost wakeup (each
// side stores before it loads; Go's atomics are sequentially consistent).
// Stop wakes the workers too. Since every party with work for a sleeping
// worker wakes it, the worker sleeps with no timeout (no timer armed and
// cancelled around each sleep), except while frames it sent wait on the TX
// ring: completions do not end a poll, so then it sleeps at most
// PollTimeout. Over other queues (xsk.MemQueue, test fakes) a worker sleeps
// until data or PollTimeout.
//
// Reconfiguration never blocks a worker: Apply publishes the new compiled
// graph with an atomic pointer store; each worker loads the pointer once per
// vector. Apply then waits until every worker has loaded the new graph or is
// parked (holding no graph: asleep in Poll, stopped, or between RunOnce
// calls), and only then closes the blocks that left the stack. A sleeping
// worker is parked, so Apply never waits longer than a vector's processing.
// Because a worker switches graphs only between vectors, a queue's packets
// are never lost, duplicated or reordered by a swap.
//
// Changes known ahead of their time (a replay: one every 10ms) need not
// wake the control plane each time. Schedule prepares a chain of
// transactions at once, each graph built on the one before, its blocks made
// and compiled, and the workers publish each one themselves when its time
// comes: before a vector, a worker loads the next due time (one atomic
// load; the clock is read only while a chain waits) and, once it has passed,
// commits the prepared graph under the control-plane lock if that is free
// (TryLock: a worker never waits for it). Publishing is then the state
// moves, one pointer store and a retirement queued, with no allocation. A
// worker asleep for want of traffic publishes nothing; RunDue, at the
// chain's end, publishes what fell due meanwhile. Apply and Publish
// publish what is due, then drop the rest of a chain, closing its blocks.
//
// Started blocks are never mutated by the control plane: set builds a new
// instance with the merged options, which takes the old one's state. Block
// state that must survive a swap is per worker and moved by reference in
// TakeState (each worker runs either the old or the new block, never both,
// so every per-worker slot keeps a single writer).
//
// Statistics are per worker, padded to cache lines, written by their worker
// with a plain load and an atomic store once per vector (no locked
// read-modify-write, no shared lines), and summed when read.
//
// # Poll modes
//
// What a worker does when its RX ring is empty decides where its CPU goes.
// Measured with internal/rxbench on the fair veth testbed (generator on CPU
// 0; worker and the receiving veth's NAPI thread together on CPU 1; eth ->
// dummy -> dummy; generator paced on the worker's count), five runs of
// `go test -run '^$' -bench 'VethReceive' -count 3 ./internal/rxbench`, each
// the median of 3, on a 2-CPU machine shared with other jobs (load 1-5, so
// absolute rates vary by 2x between runs):
//
//	mode      Mpps                          receive CPU ns/pkt       worker loop ns/pkt
//	busy      0.04 0.33 0.35 0.83 0.40     7700 1440 1620 1120 2240   7180 935 1150 706 1754
//	wakeup    0.75 0.70 0.91 0.88 0.54      400  505  455  456  790     79  90   86  89  103
//	adaptive  1.33 0.62 0.87 0.78 0.72      540  555  540  531  623    136 142  140 142  155
//
// Busy received fewer frames than wakeup in every run (up to 19x fewer) and
// spent 2.5-19x the CPU per frame when the worker shares its CPU with the
// kernel's receive work: the spinning thread and the NAPI thread that fills
// its ring take turns on the CPU by scheduler slices, and nothing arrives
// while the worker spins (the worst run, 0.04 Mpps, is one paced window of
// 128 frames per 3 ms slice). Busy is for a worker with a core of its own (a
// NIC whose interrupts and NAPI run elsewhere), where it buys the lowest
// latency at 100% of that core, idle or not. Wakeup sleeps in poll(2)
// whenever the ring runs dry: the cheapest per frame and free when idle, at
// a wakeup's latency (a context switch) on the first frame after a gap; it
// is the mode for shared CPUs, veth and copy-mode sockets, and what lanad
// should default to there. Adaptive (Spin empty rounds, then poll) was
// within the noise of wakeup in frames per second (ahead in two runs,
// behind in three) but always paid 50-60 ns more worker time per frame for
// its spinning; it helps only where a short spin catches the next vector
// that a sleep would miss, i.e. on a dedicated core with bursty traffic.
//
// Every frame of a worker is always in exactly one place: the fill or RX
// ring, the TX or completion ring, the worker's free list, its spare ring,
// or held (by a block that consumed it, or by a goroutine that allocated
// it). Worker.Stats().Frames counts them.
package engine
