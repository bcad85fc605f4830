package engine

import (
	"sync"
	"sync/atomic"
)

// EventKind names what happened.
type EventKind uint8

const (
	// EventBind: Block was bound below Peer (Key names the output, if any).
	EventBind EventKind = iota + 1
	// EventUnbind: the binding Block -> Peer was removed.
	EventUnbind
	// EventOptionSet: Block's option Key was set to Value.
	EventOptionSet
	// EventGoingDown: Block is being removed or replaced.
	EventGoingDown
)

// String returns the kind's name.
func (k EventKind) String() string {
	switch k {
	case EventBind:
		return "bind"
	case EventUnbind:
		return "unbind"
	case EventOptionSet:
		return "option-set"
	case EventGoingDown:
		return "going-down"
	}
	return "unknown"
}

// Event is a control-plane change that blocks and watchers hear about.
type Event struct {
	Kind       EventKind
	Block      string
	Peer       string
	Key, Value string
}

// pendingEvent is an event and the block names that should receive it,
// computed when the verb ran.
type pendingEvent struct {
	ev Event
	to []string
}

// delivery is an event resolved to block instances at commit.
type delivery struct {
	ev Event
	to []EventHandler
}

// eventBus delivers events on its own goroutine, off the data path and
// without holding the control-plane lock.
type eventBus struct {
	ch chan []delivery
	mu sync.Mutex
	// watchers are external subscribers (lanad), keyed by a handle.
	watchers map[int]func(Event)
	next     int
	done     chan struct{}
	// nwatchers is len(watchers), read by the control plane without mu.
	nwatchers atomic.Int32
}

// wanted reports whether ds reaches anyone: a block that handles events or
// a watcher. The control plane sends nothing otherwise, which spares the
// bus goroutine a wakeup per transaction.
func (b *eventBus) wanted(ds []delivery) bool {
	if b.nwatchers.Load() > 0 {
		return true
	}
	for _, d := range ds {
		if len(d.to) > 0 {
			return true
		}
	}
	return false
}

func newEventBus() *eventBus {
	b := &eventBus{ch: make(chan []delivery, 256), watchers: map[int]func(Event){}, done: make(chan struct{})}
	go b.loop()
	return b
}

func (b *eventBus) loop() {
	defer close(b.done)
	for batch := range b.ch {
		for _, d := range batch {
			for _, h := range d.to {
				h.HandleEvent(d.ev)
			}
			b.mu.Lock()
			ws := make([]func(Event), 0, len(b.watchers))
			for _, k := range sortedIntKeys(b.watchers) {
				ws = append(ws, b.watchers[k])
			}
			b.mu.Unlock()
			for _, w := range ws {
				w(d.ev)
			}
		}
	}
}

func sortedIntKeys(m map[int]func(Event)) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Watch calls fn for every event, on the event goroutine, until the
// returned cancel function is called. fn must not call back into the Engine
// synchronously with a lock it holds elsewhere.
func (e *Engine) Watch(fn func(Event)) (cancel func()) {
	b := e.bus
	b.mu.Lock()
	id := b.next
	b.next++
	b.watchers[id] = fn
	b.nwatchers.Store(int32(len(b.watchers)))
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.watchers, id)
		b.nwatchers.Store(int32(len(b.watchers)))
		b.mu.Unlock()
	}
}

// resolve turns pending events into deliveries against graph g.
func resolve(g *Graph, pes []pendingEvent) []delivery {
	out := make([]delivery, 0, len(pes))
	for _, pe := range pes {
		d := delivery{ev: pe.ev}
		for _, n := range pe.to {
			if bd, ok := g.blocks[n]; ok {
				if h, ok := bd.inst.(EventHandler); ok {
					d.to = append(d.to, h)
				}
			}
		}
		out = append(out, d)
	}
	return out
}
