package blocks

import "github.com/lana-net/lana/engine"

func init() { engine.Register("tee", func() engine.Block { return &Tee{} }) }

// Tee forwards every packet and sends a copy to its "clone" output.
//
// The copy needs its own frame: Vector.Clone takes one from the worker's
// free list (WorkerConfig.Reserve frames are kept there for this) and
// copies the data at the same offset, so the clone has the same headroom.
// When no frame is free the original still continues and the clone is lost,
// counted in CloneFailures.
//
// Options: egress=false (clone egress packets too when true). Outputs:
// "clone". Verdicts: continue (originals). Counters: Counts() returns
// clones made and clone failures.
type Tee struct {
	egress bool
	pw     *perWorker
}

// Configure reads egress.
func (t *Tee) Configure(opts engine.Options) error {
	p := engine.NewOptionParser(opts)
	t.egress = p.Bool("egress", false)
	return p.Err()
}

// Info names the clone output.
func (t *Tee) Info() engine.Info { return engine.Info{Outputs: []string{"clone"}} }

// Start allocates the per-worker counters.
func (t *Tee) Start(env engine.Env) error {
	t.pw = newPerWorker(env.Workers)
	return nil
}

// TakeState adopts the replaced tee's counters (see Counter.TakeState).
func (t *Tee) TakeState(old engine.Block) {
	if o, ok := old.(*Tee); ok && len(o.pw.c) == len(t.pw.c) {
		t.pw = o.pw
	}
}

// Process clones each packet to output 0.
func (t *Tee) Process(v *engine.Vector) {
	if v.Dir == engine.Egress && !t.egress {
		return
	}
	var made, failed uint64
	for i := range v.Pkts {
		c, ok := v.Clone(i)
		if ok && v.Emit(0, c) {
			made++
		} else {
			failed++
		}
	}
	t.pw.add(v.Worker, made, 0, failed)
}

// Counts returns clones made and clones lost for lack of a frame.
func (t *Tee) Counts() (clones, failures uint64) {
	c, _, f := t.pw.sum()
	return c, f
}

// Close does nothing.
func (t *Tee) Close() error { return nil }

// Counters implements engine.Reporter.
func (t *Tee) Counters() map[string]uint64 {
	c, f := t.Counts()
	return map[string]uint64{"clones": c, "clone_failures": f}
}
