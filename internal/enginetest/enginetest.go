// Package enginetest drives an engine worker by hand over memory-backed
// rings, for the unit tests of blocks: the test plays the kernel through the
// xsk.MemQueue (Deliver frames, DrainTX what the engine sent) and runs the
// worker one round at a time. It needs no privileges and no kernel.
package enginetest

import (
	"testing"

	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/xsk"
)

// Options size a Rig; zero fields take the defaults.
type Options struct {
	// Frames is the UMEM's frame count (default 512); the fill and
	// completion rings have as many slots.
	Frames uint32
	// Ring is the size of the RX and TX rings (default 256).
	Ring uint32
	// FillTarget is the worker's engine.WorkerConfig.FillTarget (0: the
	// engine's default).
	FillTarget int
}

// Rig is one engine with one worker over an xsk.MemQueue. Its fields are the
// test's to use directly.
type Rig struct {
	Q *xsk.MemQueue
	E *engine.Engine
	W *engine.Worker
}

// New builds a Rig, applies lines (engine verbs, one transaction), runs the
// worker once so that the fill ring is stocked, and closes the engine in
// tb.Cleanup.
func New(tb testing.TB, opts Options, lines ...string) *Rig {
	tb.Helper()
	if opts.Frames == 0 {
		opts.Frames = 512
	}
	if opts.Ring == 0 {
		opts.Ring = 256
	}
	q, err := xsk.NewMemQueue(xsk.UMEMConfig{FrameSize: 2048, FrameCount: opts.Frames,
		FillSize: opts.Frames, CompletionSize: opts.Frames}, opts.Ring, opts.Ring)
	if err != nil {
		tb.Fatal(err)
	}
	e, err := engine.New(engine.Config{Workers: []engine.WorkerConfig{{Queue: q, UMEM: q.UMEM(), FillTarget: opts.FillTarget}}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := e.Close(); err != nil {
			tb.Error(err)
		}
	})
	if err := e.Exec(lines...); err != nil {
		tb.Fatal(err)
	}
	r := &Rig{Q: q, E: e, W: e.Worker(0)}
	r.W.RunOnce()
	return r
}

// Push delivers frame f n times and runs the worker until it has received
// them all. It fails tb if the fill ring runs dry, which means frames leak.
func (r *Rig) Push(tb testing.TB, f []byte, n int) {
	tb.Helper()
	for n > 0 {
		d := r.Q.Deliver(f, n)
		if d == 0 {
			tb.Fatal("fill ring empty: frames leak")
		}
		n -= d
		for r.W.RunOnce() > 0 {
		}
	}
}

// Instance returns the running instance of block name.
func (r *Rig) Instance(tb testing.TB, name string) engine.Block {
	tb.Helper()
	b, err := r.E.Instance(name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Drops returns block name's drops by reason.
func (r *Rig) Drops(tb testing.TB, name string) map[string]uint64 {
	tb.Helper()
	s, err := r.E.BlockStats(name)
	if err != nil {
		tb.Fatal(err)
	}
	return s.Drops
}

// FrameSetType is the block type FrameSet registers as.
const FrameSetType = "test-frame-set"

// FrameSet is a block that notes the base address (Packet.Addr) of every
// frame reaching it and passes the frame on: which UMEM frames the kernel
// received into. It writes a map in Process, so it is for tests only; read
// Seen while no worker runs.
type FrameSet struct{ Seen map[uint64]bool }

func init() {
	engine.Register(FrameSetType, func() engine.Block { return &FrameSet{Seen: map[uint64]bool{}} })
}

// Configure implements engine.Block; FrameSet takes no options.
func (*FrameSet) Configure(opts engine.Options) error { return engine.NewOptionParser(opts).Err() }

// Info implements engine.Block: it keeps lengths.
func (*FrameSet) Info() engine.Info { return engine.Info{KeepsLength: true} }

// Start implements engine.Block.
func (*FrameSet) Start(engine.Env) error { return nil }

// Close implements engine.Block.
func (*FrameSet) Close() error { return nil }

// Process implements engine.Block.
func (f *FrameSet) Process(v *engine.Vector) {
	for i := range v.Pkts {
		f.Seen[v.Pkts[i].Addr] = true
	}
}
