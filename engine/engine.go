package engine

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes an engine.
type Config struct {
	// VectorSize is the most packets per vector (default 64, at most 256).
	VectorSize int
	// Workers has one entry per NIC queue.
	Workers []WorkerConfig
	// OnPanic, when set, hears of every block panic the workers contained
	// (the block is then marked failed; see BlockStats.Failed). It runs on
	// the worker's goroutine after recovery, rarely: it may log and
	// allocate but must not block or call back into the engine.
	OnPanic func(BlockPanic)
}

// Engine owns the workers, the stack description and its compiled form.
// Control-plane methods (Apply, Exec, stats) are safe from any goroutine and
// serialised; workers never wait for them.
type Engine struct {
	mu     sync.Mutex // serialises the control plane (workers only TryLock it: schedule.go); guards graph, gen, closed, sched
	graph  *Graph
	gen    uint64
	closed bool
	cur    atomic.Pointer[compiled] // what workers follow; replaced, never mutated
	// due is when the next scheduled transaction falls due, in
	// nanoseconds since epoch, or noneDue; workers read it before every
	// vector (schedule.go).
	due     atomic.Int64
	epoch   time.Time
	sched   *schedule // the chain Schedule prepared, nil before any; guarded by mu
	workers []*Worker
	bus     *eventBus

	// quiescing is up while Apply waits for workers to leave the previous
	// graph; workers then send a token on quiesced whenever their
	// quiescence word changes (Worker.announce).
	quiescing atomic.Bool
	quiesced  chan struct{}

	// pending are Publish's retirements whose grace period has not been
	// seen to end, oldest first; deferredErrs are the errors of closes
	// done after one, for Sync. Guarded by mu.
	pending      []retirement
	deferredErrs []error

	stopping atomic.Bool
	wg       sync.WaitGroup
	runErr   chan error
	onPanic  func(BlockPanic) // Config.OnPanic; immutable
}

// New builds an engine with an empty graph. Workers do not run until Start
// (or their Run / RunOnce is called).
func New(cfg Config) (*Engine, error) {
	vs := cfg.VectorSize
	if vs == 0 {
		vs = DefaultVectorSize
	}
	if vs < 1 || vs > MaxVectorSize {
		return nil, fmt.Errorf("vector size %d: must be in [1, %d]: %w", vs, MaxVectorSize, ErrConfig)
	}
	if len(cfg.Workers) == 0 {
		return nil, fmt.Errorf("no workers: need one per queue: %w", ErrConfig)
	}
	e := &Engine{graph: NewGraph(len(cfg.Workers)), runErr: make(chan error, len(cfg.Workers)), onPanic: cfg.OnPanic,
		quiesced: make(chan struct{}, 1)}
	e.gen = 1
	e.cur.Store(compile(e.graph, e.gen))
	e.epoch = time.Now()
	e.due.Store(noneDue)
	var errs []error
	for i, wc := range cfg.Workers {
		w, err := newWorker(e, i, vs, wc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		e.workers = append(e.workers, w)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// Each queue gets its fill target now, so a socket that the XDP program
	// reaches from here on (xsk.Program.Register) has frames to receive
	// into from the first, however late the worker's thread first runs:
	// otherwise the kernel drops what comes before, for an empty fill ring.
	for _, w := range e.workers {
		w.beforeSleep() // what a worker does before its sleeps: top up, refill
	}
	e.bus = newEventBus()
	return e, nil
}

// Workers returns the number of workers.
func (e *Engine) Workers() int { return len(e.workers) }

// Worker returns worker i.
func (e *Engine) Worker(i int) *Worker { return e.workers[i] }

// Start runs every worker on its own goroutine.
func (e *Engine) Start() {
	for _, w := range e.workers {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			if err := w.Run(); err != nil {
				e.runErr <- err
			}
		}()
	}
}

// Stop makes running workers return and waits for them; it returns the
// errors workers failed with. The graph stays; Close releases it.
func (e *Engine) Stop() error {
	e.stopping.Store(true)
	for _, w := range e.workers {
		w.wake()
	}
	e.wg.Wait()
	var errs []error
	for {
		select {
		case err := <-e.runErr:
			errs = append(errs, err)
		default:
			return errors.Join(errs...)
		}
	}
}

// Close stops the workers, closes every block and the event goroutine.
func (e *Engine) Close() error {
	err := e.Stop()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return err
	}
	e.closed = true
	e.dropSchedule() // its blocks never served: no grace period either
	errs := append([]error{err}, e.deferredErrs...)
	// The workers have stopped: no grace period is left to wait for.
	for _, r := range e.pending {
		errs = append(errs, e.closeErrs(r.blocks)...)
	}
	e.pending, e.deferredErrs = nil, nil
	for _, n := range e.graph.Names() {
		d := e.graph.blocks[n]
		if cerr := d.inst.Close(); cerr != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", n, cerr))
		}
	}
	close(e.bus.ch)
	<-e.bus.done
	return errors.Join(errs...)
}

// Exec parses lines as verbs and applies them as one transaction.
func (e *Engine) Exec(lines ...string) error {
	verbs, err := ParseVerbs(lines...)
	if err != nil {
		return err
	}
	return e.Apply(verbs...)
}

// Apply runs verbs as one transaction: either all succeed and the new graph
// is published to the workers, or none has any effect and the error names
// the failing verb. Apply returns once every worker has left the previous
// graph and the blocks that left the stack are closed (those of earlier
// Publish calls too, whose close errors stay for Sync); it never makes a
// worker wait.
func (e *Engine) Apply(verbs ...Verb) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.publish(verbs); err != nil {
		return err
	}
	e.quiesce(e.gen)
	// Earlier Publish calls' retirements end here too; their errors stay
	// for Sync, and Apply reports its own.
	e.deferredErrs = append(e.deferredErrs, e.reap(e.gen-1)...)
	return errors.Join(e.reap(e.gen)...)
}

// Publish runs verbs as one transaction, like Apply, but returns as soon as
// the new graph is published: it does not wait for the workers to leave the
// previous one. That wait is a grace period in RCU's sense, and Publish
// defers what follows it instead of sitting it out: the blocks the
// transaction retired are closed, and its events delivered, by the first
// later Publish, Apply or Sync that finds every worker past it (Publish only
// looks; Apply and Sync wait). A caller applying changes at a steady pace
// (a replay) thus costs the workers' CPU no wakeup for the wait, and
// calls Sync when it is done. Errors of deferred closes are kept for Sync.
func (e *Engine) Publish(verbs ...Verb) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.publish(verbs); err != nil {
		return err
	}
	upTo := e.passed()
	if len(e.pending) > maxPending {
		// A worker has stayed in an old graph for maxPending
		// transactions: wait for it rather than hold every graph since.
		e.quiesce(e.pending[len(e.pending)-maxPending].gen)
		upTo = e.passed()
	}
	e.deferredErrs = append(e.deferredErrs, e.reap(upTo)...)
	return nil
}

// maxPending bounds Publish's retirements still waiting for their grace
// period, and so the old graphs they keep.
const maxPending = 1024

// Sync waits until every worker has left every graph but the current one,
// then closes the blocks and delivers the events that Publish deferred. It
// returns the errors of every deferred close since the last Sync.
func (e *Engine) Sync() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.pending) > 0 {
		e.quiesce(e.gen)
	}
	errs := append(e.deferredErrs, e.reap(e.gen)...)
	e.deferredErrs = nil
	return errors.Join(errs...)
}

// retirement is what a published transaction leaves for after its grace
// period: the blocks it retired and the events it raised, resolved against
// the graph it published (generation gen).
type retirement struct {
	gen    uint64
	graph  *Graph
	blocks []Block
	events []pendingEvent
}

// publish checks and applies verbs to a copy of the graph, hands moved
// state over, publishes the compiled result as a new generation and queues
// its retirement. Caller holds e.mu.
func (e *Engine) publish(verbs []Verb) error {
	if e.closed {
		return ErrStopped
	}
	e.beforeTransaction()
	ng, err := e.graph.applyAll(verbs)
	if err != nil {
		return err
	}
	moves, retired, events := ng.moves, ng.retired, ng.events
	ng.created, ng.retired, ng.moves, ng.events = nil, nil, nil, nil
	e.commit(ng, compile(ng, e.gen+1), moves, retired, events)
	return nil
}

// commit makes ng, compiled as comp for generation e.gen+1, the graph the
// workers follow: it hands moved state over, publishes comp and queues the
// retirement of what the transaction retired. It allocates nothing when
// e.pending has room (a worker commits scheduled transactions). Caller
// holds e.mu.
func (e *Engine) commit(ng *Graph, comp *compiled, moves []stateMove, retired []Block, events []pendingEvent) {
	for _, m := range moves {
		if st, ok := m.to.(StateTaker); ok {
			st.TakeState(m.from)
		}
	}
	e.gen++
	e.cur.Store(comp)
	e.graph = ng
	if len(retired) > 0 || len(events) > 0 {
		e.pending = append(e.pending, retirement{gen: e.gen, graph: ng, blocks: retired, events: events})
	}
}

// reap ends, in order, the pending retirements of generations up to gen,
// which every worker must have reached: for each, it closes the blocks it
// retired, then delivers its events, as Apply did for its own. It returns
// what the closes failed with. Caller holds e.mu.
func (e *Engine) reap(gen uint64) []error {
	var errs []error
	n := 0
	for _, r := range e.pending {
		if r.gen > gen {
			break
		}
		n++
		errs = append(errs, e.closeErrs(r.blocks)...)
		if len(r.events) > 0 {
			if ds := resolve(r.graph, r.events); e.bus.wanted(ds) {
				e.bus.ch <- ds
			}
		}
	}
	rest := copy(e.pending, e.pending[n:])
	clear(e.pending[rest:]) // let the old graphs go
	e.pending = e.pending[:rest]
	return errs
}

// closeErrs closes blocks and returns what their Close calls failed with.
func (e *Engine) closeErrs(blocks []Block) []error {
	var errs []error
	for _, b := range blocks {
		if err := b.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close retired block: %w", err))
		}
	}
	return errs
}

// passed is the newest generation every worker has reached: a parked
// worker holds no graph and counts as past every one. It only looks.
func (e *Engine) passed() uint64 {
	min := e.gen
	for _, w := range e.workers {
		if s := w.seen.Load(); s != parked && s < min {
			min = s
		}
	}
	return min
}

// quiesce waits until every worker either holds no graph or has loaded
// generation gen; after that no worker can reach a block missing from gen.
// A worker that moves on while the flag is up sends a token (announce), so
// the wait costs one wakeup instead of a sleep-and-look loop, whose sleeps
// each woke a thread on the CPUs the control plane shares with workers.
func (e *Engine) quiesce(gen uint64) {
	e.quiescing.Store(true)
	defer e.quiescing.Store(false)
	for _, w := range e.workers {
		for {
			if s := w.seen.Load(); s == parked || s >= gen {
				break
			}
			<-e.quiesced // stale tokens only make the loop look again
		}
	}
}

// View calls fn with the current graph description under the control-plane
// lock; fn must only read it.
func (e *Engine) View(fn func(g *Graph)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fn(e.graph)
}

// BlockStats returns block name's counters summed over workers.
func (e *Engine) BlockStats(name string) (BlockStats, error) {
	e.mu.Lock()
	d, ok := e.graph.blocks[name]
	e.mu.Unlock()
	if !ok {
		return BlockStats{}, fmt.Errorf("block stats %s: %w", name, ErrNotFound)
	}
	st := d.slot.stats()
	st.Failed = d.slot.health.failureOf(d.inst)
	return st, nil
}

// Instance returns the live instance of block name, for tests and for
// blocks' own typed accessors (e.g. a counter's totals).
func (e *Engine) Instance(name string) (Block, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, ok := e.graph.blocks[name]
	if !ok {
		return nil, fmt.Errorf("instance %s: %w", name, ErrNotFound)
	}
	return d.inst, nil
}

// Port is a handle through which other goroutines send frames down a
// block's egress path; resolve it once with Engine.Port.
type Port struct {
	e    *Engine
	slot int32
}

// Port returns a send handle for block name. It stays valid across replace
// and set of that block.
func (e *Engine) Port(name string) (Port, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, ok := e.graph.blocks[name]
	if !ok {
		return Port{}, fmt.Errorf("port %s: %w", name, ErrNotFound)
	}
	return Port{e: e, slot: int32(d.slot.id)}, nil
}

// Send hands a frame owned by the caller (consumed earlier from worker
// `worker`) to that worker, which sends it down the block's egress path.
// off and length locate the data inside the frame at base address addr.
// Safe from any goroutine; lock-free; ErrQueueFull when the worker's
// hand-off queue is full. A worker asleep in Poll is woken (one eventfd
// write, only when it sleeps; see Wakeable).
func (p Port) Send(worker int, addr uint64, off, length uint32) error {
	w := p.e.workers[worker]
	if uint64(off)+uint64(length) > uint64(w.fsize) {
		return fmt.Errorf("send: data %d+%d: must fit the %d-byte frame: %w", off, length, w.fsize, ErrConfig)
	}
	if !w.handoff.push(handoff{addr: addr &^ w.fmask, off: off, len: length, slot: p.slot}) {
		return ErrQueueFull
	}
	w.wake()
	return nil
}
