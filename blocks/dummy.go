package blocks

import "github.com/lana-net/lana/engine"

func init() { engine.Register("dummy", func() engine.Block { return &Dummy{} }) }

// Dummy forwards every packet unchanged in both directions (the LANA
// paper's "Forward" block).
//
// Options: none. Outputs: none beyond continue. Verdicts: always continue.
// Counters: none of its own (the engine counts packets, bytes and vectors
// per block).
type Dummy struct{}

// Configure accepts no options.
func (d *Dummy) Configure(opts engine.Options) error { return engine.NewOptionParser(opts).Err() }

// Info reports no outputs and no drop reasons; Dummy never changes a
// packet's length.
func (d *Dummy) Info() engine.Info { return engine.Info{KeepsLength: true} }

// Start does nothing.
func (d *Dummy) Start(engine.Env) error { return nil }

// Process leaves every verdict at continue.
func (d *Dummy) Process(v *engine.Vector) {}

// Close does nothing.
func (d *Dummy) Close() error { return nil }
