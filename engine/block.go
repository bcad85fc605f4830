package engine

import (
	"fmt"
	"sort"
	"sync"
)

// Block is one functional block. Its life is Configure -> Info -> Start ->
// (TakeState on replace) -> Process* -> Close.
//
// Configure, Info, Start, TakeState and Close are called by the control
// plane, one at a time. Process is called by workers, concurrently from
// several workers but never concurrently with Configure, Start or Close;
// every worker passes its own index in Vector.Worker, so per-worker state
// needs no locks. A started block is immutable from the control plane's side:
// changing an option builds a new instance and swaps it in (see Graph.Set).
type Block interface {
	// Configure parses options without allocating resources; it reports
	// every problem, not only the first (errors.Join), and rejects unknown
	// keys.
	Configure(opts Options) error
	// Info describes the block's named outputs and drop reasons; it is
	// called after a successful Configure and must not change afterwards.
	Info() Info
	// Start allocates what Process needs (per-worker state for env.Workers).
	Start(env Env) error
	// Process handles one vector: it writes a verdict per packet through the
	// Vector's methods (no call means VerdictContinue). It must not block,
	// allocate or keep references to the vector.
	Process(v *Vector)
	// Close releases the block's resources. The engine calls it only after
	// every worker has stopped using the block.
	Close() error
}

// StateTaker is implemented by blocks that can take over the state of the
// instance they replace (same type). TakeState runs on the control plane
// before the new graph is published while old may still be processing on
// workers: the new block may adopt old's per-worker state by reference (each
// worker writes only its own slot and runs either old or new, never both),
// but must not write that state from the calling goroutine.
type StateTaker interface {
	TakeState(old Block)
}

// EventHandler is implemented by blocks that want events (bind, unbind,
// option-set, going-down). HandleEvent runs on the engine's event goroutine,
// never on a worker.
type EventHandler interface {
	HandleEvent(ev Event)
}

// Info describes a configured block.
type Info struct {
	// Outputs names the extra outputs (beyond continue) in index order:
	// Vector.Output(i, k) sends to Outputs[k].
	Outputs []string
	// Reasons names the drop reasons in index order: Vector.Drop(i, r)
	// counts under Reasons[r].
	Reasons []string
	// KeepsLength promises that Process never changes a packet's length
	// (no Push, Pull, Trim or Extend). The engine then takes the block's
	// byte count from the vector's instead of adding up every packet again.
	KeepsLength bool
}

// Env is what a block learns when it starts.
type Env struct {
	// Name is the block's instance name.
	Name string
	// Workers is the number of workers; Vector.Worker is below it.
	Workers int
}

// Factory makes an unconfigured block.
type Factory func() Block

var registry = struct {
	sync.RWMutex
	m map[string]Factory
}{m: map[string]Factory{}}

// Register makes a block type available by name. Call it from init(); a
// duplicate or empty name is a programming error and panics.
func Register(typ string, f Factory) {
	if typ == "" || f == nil {
		panic("engine: Register with empty type name or nil factory")
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[typ]; dup {
		panic(fmt.Sprintf("engine: block type %q registered twice", typ))
	}
	registry.m[typ] = f
}

// Types returns the registered type names, sorted.
func Types() []string {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]string, 0, len(registry.m))
	for k := range registry.m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// newBlock makes an unconfigured block of type typ.
func newBlock(typ string) (Block, error) {
	registry.RLock()
	f, ok := registry.m[typ]
	registry.RUnlock()
	if !ok {
		return nil, fmt.Errorf("block type %q: %w", typ, ErrUnknownType)
	}
	return f(), nil
}

// PacketFunc decides one packet's fate; see Simple.
type PacketFunc func(p *Packet, dir Direction) Verdict

// Simple is the per-packet helper for simple blocks (Click's simple_action):
// embed it, set Fn in Start, and Process calls Fn once per packet. It costs
// one indirect call per packet; BenchmarkPipeline/blocks=3/simple measures that
// against the vector form. A VerdictDrop from Fn counts under reason 0.
type Simple struct {
	// Fn is called for every packet; set before Start returns.
	Fn PacketFunc
}

// Process calls Fn for each packet of v.
func (s *Simple) Process(v *Vector) {
	fn := s.Fn
	for i := range v.Pkts {
		if vd := fn(&v.Pkts[i], v.Dir); vd != VerdictContinue {
			v.Set(i, vd)
		}
	}
}
