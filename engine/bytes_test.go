package engine_test

import (
	"testing"

	"github.com/lana-net/lana/engine"
)

// trimmer cuts trimBytes off the end of every packet and, unlike the
// blocks around it, does not promise to keep lengths.
type trimmer struct{}

const trimBytes = 10

func (trimmer) Configure(opts engine.Options) error { return engine.NewOptionParser(opts).Err() }
func (trimmer) Info() engine.Info                   { return engine.Info{} }
func (trimmer) Start(engine.Env) error              { return nil }
func (trimmer) Close() error                        { return nil }
func (trimmer) Process(v *engine.Vector) {
	for i := range v.Pkts {
		p := &v.Pkts[i]
		p.Trim(p.Len() - trimBytes)
	}
}

func init() { engine.Register("test-trim", func() engine.Block { return trimmer{} }) }

// TestBlockBytes: each block counts the bytes that entered it. Blocks that
// keep lengths (Info.KeepsLength: eth, dummy) reuse the vector's total; after
// a block that may change lengths the engine adds the packets up again, so
// the blocks above the trimmer count the trimmed lengths.
func TestBlockBytes(t *testing.T) {
	r := newRig(t, 64)
	if err := r.e.Exec("add eth eth", "add d1 dummy", "add trim test-trim", "add d2 dummy", "add d3 dummy",
		"hook eth", "bind eth d1", "bind d1 trim", "bind trim d2", "bind d2 d3"); err != nil {
		t.Fatal(err)
	}
	r.w.RunOnce() // first refill
	frame := testFrame()
	const n = 200 // several vectors, the last one partial
	for sent := 0; sent < n; {
		k := r.q.Deliver(frame, min(64, n-sent))
		if k == 0 {
			t.Fatalf("the RX ring took nothing after %d frames", sent)
		}
		sent += k
		for r.w.RunOnce() > 0 {
		}
	}
	full, trimmed := uint64(n*len(frame)), uint64(n*(len(frame)-trimBytes))
	for _, c := range []struct {
		block string
		want  uint64
	}{{"eth", full}, {"d1", full}, {"trim", full}, {"d2", trimmed}, {"d3", trimmed}} {
		st, err := r.e.BlockStats(c.block)
		if err != nil {
			t.Fatal(err)
		}
		if st.Packets != n || st.Bytes != c.want {
			t.Errorf("%s: %d packets, %d bytes; want %d, %d", c.block, st.Packets, st.Bytes, n, c.want)
		}
	}
}
