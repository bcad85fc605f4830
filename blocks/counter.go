package blocks

import "github.com/lana-net/lana/engine"

func init() { engine.Register("counter", func() engine.Block { return &Counter{} }) }

// Counter counts the packets and bytes that pass it (both directions) and
// forwards them.
//
// Options: none. Outputs: none beyond continue. Verdicts: always continue.
// Counters: Counts() returns packets and bytes summed over workers. replace
// (not replace-drop) with another counter carries the counts over.
type Counter struct {
	pw *perWorker
}

// Configure accepts no options.
func (c *Counter) Configure(opts engine.Options) error { return engine.NewOptionParser(opts).Err() }

// Info reports no outputs and no drop reasons; Counter never changes a
// packet's length.
func (c *Counter) Info() engine.Info { return engine.Info{KeepsLength: true} }

// Start allocates the per-worker counters.
func (c *Counter) Start(env engine.Env) error {
	c.pw = newPerWorker(env.Workers)
	return nil
}

// TakeState adopts the replaced counter's per-worker counters by reference:
// each worker runs either the old or the new block, so each slot still has
// one writer and no count is lost across the swap.
func (c *Counter) TakeState(old engine.Block) {
	if o, ok := old.(*Counter); ok && len(o.pw.c) == len(c.pw.c) {
		c.pw = o.pw
	}
}

// Process counts v.
func (c *Counter) Process(v *engine.Vector) {
	var bytes uint64
	for i := range v.Pkts {
		bytes += uint64(v.Pkts[i].Len())
	}
	c.pw.add(v.Worker, uint64(len(v.Pkts)), bytes, 0)
}

// Counts returns packets and bytes seen, summed over workers. Safe from any
// goroutine.
func (c *Counter) Counts() (packets, bytes uint64) {
	p, b, _ := c.pw.sum()
	return p, b
}

// Close does nothing.
func (c *Counter) Close() error { return nil }

// Counters implements engine.Reporter.
func (c *Counter) Counters() map[string]uint64 {
	p, b := c.Counts()
	return map[string]uint64{"packets": p, "bytes": b}
}
