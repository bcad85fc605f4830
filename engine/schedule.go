package engine

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// A schedule is a chain of transactions prepared ahead of their time: each
// graph was built from the one before it (the first from the graph current
// when Schedule ran) and compiled, its blocks made and started. Publishing
// one is then only the commit: state moves, one atomic store, a retirement
// queued. The workers do that themselves when an item falls due, between
// two vectors, so a steady series of changes (a replay) wakes no thread of
// the control plane for each change; it wakes once per chain.
type schedule struct {
	items   []scheduled
	next    int // first item not published yet
	dropped int // items dropped before their time
}

// scheduled is one prepared transaction of a schedule.
type scheduled struct {
	at      time.Duration // when it falls due, since Engine.epoch
	graph   *Graph        // the description after it
	comp    *compiled     // its compiled form, generation assigned
	created []Block       // instances it made: closed if it is never published
	retired []Block
	moves   []stateMove
	events  []pendingEvent
	late    time.Duration // how long after at it was published
}

// noneDue is Engine.due when nothing is scheduled.
const noneDue = math.MaxInt64

// ErrNotSchedulable wraps what a Schedule's accept function refused.
var ErrNotSchedulable = errors.New("not schedulable")

// ScheduleState is what became of the transactions given to Schedule.
type ScheduleState struct {
	// Published are the transactions published so far, in order.
	Published int
	// Left are those still waiting for their time.
	Left int
	// Dropped are those a transaction from elsewhere (Apply, Publish) or
	// Unschedule dropped before their time; their blocks were closed.
	Dropped int
	// Late is, for each published transaction, how long after its time it
	// was published.
	Late []time.Duration
}

// Schedule prepares txns as a chain, each transaction applied to the graph
// the one before leaves (the first to the current graph), and hands the
// chain to the workers, which publish each one when its time in at comes:
// the first worker to pass between two vectors after that time commits it,
// as Publish would have at that moment (the blocks it retired are closed,
// and its events delivered, by a later Publish, Apply, Sync or RunDue that
// finds every worker past it). at must not decrease.
//
// A worker asleep for want of traffic publishes nothing: RunDue publishes
// what has fallen due since, and should be called at the chain's end.
// Apply and Publish first publish what is due, then drop the rest of the
// chain; so does Unschedule. Only one chain is scheduled at a time: while
// one has items left, Schedule fails.
//
// accept, when not nil, sees every prepared graph (read only, under the
// control-plane lock: it must not call the Engine) and may refuse it. The
// chain then ends before the first transaction refused, by its verbs or
// by accept; Schedule returns how many it scheduled and that transaction's
// error (accept's wrapped in ErrNotSchedulable). Nothing is scheduled
// when the first is refused.
func (e *Engine) Schedule(txns [][]Verb, at []time.Time, accept func(*Graph) error) (int, error) {
	if len(at) != len(txns) {
		return 0, fmt.Errorf("schedule: %d transactions, %d times: %w", len(txns), len(at), ErrConfig)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return 0, ErrStopped
	}
	if s := e.sched; s != nil && s.next < len(s.items) {
		return 0, fmt.Errorf("schedule: %d transactions of the last chain are still waiting: %w", len(s.items)-s.next, ErrConfig)
	}
	s := &schedule{items: make([]scheduled, 0, len(txns))}
	g := e.graph
	var refused error
	for i, verbs := range txns {
		if i > 0 && at[i].Before(at[i-1]) {
			refused = fmt.Errorf("schedule: transaction %d: due %v before the one before it: %w", i+1, at[i-1].Sub(at[i]), ErrConfig)
			break
		}
		ng, err := g.applyAll(verbs)
		if err == nil && accept != nil {
			if err = accept(ng); err != nil {
				err = fmt.Errorf("%w: %w", ErrNotSchedulable, err)
				closeBlocks(ng.created)
			}
		}
		if err != nil {
			refused = fmt.Errorf("schedule: transaction %d: %w", i+1, err)
			break
		}
		s.items = append(s.items, scheduled{at: at[i].Sub(e.epoch), graph: ng,
			comp: compile(ng, e.gen+uint64(i)+1), created: ng.created, retired: ng.retired,
			moves: ng.moves, events: ng.events})
		ng.created, ng.retired, ng.moves, ng.events = nil, nil, nil, nil
		g = ng
	}
	if len(s.items) == 0 {
		return 0, refused
	}
	// Publishing must not allocate on a worker: room for every retirement.
	e.pending = slices.Grow(e.pending, len(s.items))
	e.sched = s
	e.due.Store(int64(s.items[0].at))
	return len(s.items), refused
}

// closeBlocks closes instances that never served; their errors are moot.
func closeBlocks(bs []Block) {
	for _, b := range bs {
		_ = b.Close()
	}
}

// RunDue publishes every scheduled transaction whose time has come and
// reports the chain's state. It reaps the retirements that every worker is
// past, keeping their close errors for Sync, as Publish does.
func (e *Engine) RunDue() ScheduleState {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.publishDue()
	e.deferredErrs = append(e.deferredErrs, e.reap(e.passed())...)
	return e.scheduleState()
}

// Unschedule publishes what has fallen due, drops the rest of the chain
// (closing the blocks its transactions made) and reports the chain's state.
func (e *Engine) Unschedule() ScheduleState {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.publishDue()
	e.dropSchedule()
	return e.scheduleState()
}

// scheduleState reports the current chain. Caller holds e.mu.
func (e *Engine) scheduleState() ScheduleState {
	s := e.sched
	if s == nil {
		return ScheduleState{}
	}
	st := ScheduleState{Published: s.next, Left: len(s.items) - s.next, Dropped: s.dropped}
	for _, it := range s.items[:s.next] {
		st.Late = append(st.Late, it.late)
	}
	return st
}

// dropSchedule drops the chain's unpublished transactions and closes the
// blocks they made. Caller holds e.mu.
func (e *Engine) dropSchedule() {
	s := e.sched
	if s == nil {
		return
	}
	n := len(s.items) - s.next
	for i := range s.items[s.next:] {
		it := &s.items[s.next+i]
		closeBlocks(it.created)
		*it = scheduled{at: it.at}
	}
	s.items = s.items[:s.next]
	s.dropped += n
	e.due.Store(noneDue)
}

// publishDue commits the scheduled transactions whose time has come, in
// order. Caller holds e.mu. Workers call it (through tryPublishDue) between
// vectors: it must not allocate or block.
func (e *Engine) publishDue() {
	s := e.sched
	if s == nil || s.next == len(s.items) {
		return
	}
	now := time.Since(e.epoch)
	for s.next < len(s.items) && s.items[s.next].at <= now {
		it := &s.items[s.next]
		// it.comp's generation is e.gen+1: nothing else published since
		// Schedule (beforeTransaction drops the chain first).
		e.commit(it.graph, it.comp, it.moves, it.retired, it.events)
		it.late = now - it.at
		it.created, it.retired, it.moves, it.events, it.comp = nil, nil, nil, nil, nil
		s.next++
	}
	if s.next < len(s.items) {
		e.due.Store(int64(s.items[s.next].at))
	} else {
		e.due.Store(noneDue)
	}
}

// tryPublishDue is the workers' way in: it publishes what is due unless the
// control plane holds the lock, in which case a later vector looks again.
func (e *Engine) tryPublishDue() {
	if !e.mu.TryLock() {
		return
	}
	e.publishDue()
	e.mu.Unlock()
}

// beforeTransaction runs before every transaction from elsewhere (Apply,
// Publish): what the chain had due goes first, the rest is dropped, since
// it was built on a graph that is about to change. Caller holds e.mu.
func (e *Engine) beforeTransaction() {
	if e.sched == nil {
		return
	}
	e.publishDue()
	e.dropSchedule()
}
