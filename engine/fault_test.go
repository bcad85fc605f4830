package engine_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/lana-net/lana/blocks"
	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/xsk"
)

// poisonOff and poisonByte mark the frame that makes a test-panic block panic.
const (
	poisonOff  = 30
	poisonByte = 0xBB
)

// panicky panics on the first poisoned frame of a vector. Before that it
// may clone every packet to its "clone" output (clone=true) and consume
// packet 0 (consume=true), to show what the engine does with frames a
// block took before it failed.
type panicky struct {
	clone, consume bool
	held           []uint64 // consumed frames; worker 0 only
}

func (p *panicky) Configure(opts engine.Options) error {
	o := engine.NewOptionParser(opts)
	p.clone = o.Bool("clone", false)
	p.consume = o.Bool("consume", false)
	return o.Err()
}
func (p *panicky) Info() engine.Info      { return engine.Info{Outputs: []string{"clone"}} }
func (p *panicky) Start(engine.Env) error { return nil }
func (p *panicky) Close() error           { return nil }
func (p *panicky) Process(v *engine.Vector) {
	for i := range v.Pkts {
		if p.clone {
			if c, ok := v.Clone(i); ok {
				v.Emit(0, c)
			}
		}
	}
	if p.consume && len(v.Pkts) > 0 {
		v.Consume(0)
		p.held = append(p.held, v.Pkts[0].Addr)
	}
	for i := range v.Pkts {
		if d := v.Pkts[i].Data(); len(d) > poisonOff && d[poisonOff] == poisonByte {
			panic("poisoned frame")
		}
	}
}

func init() { engine.Register("test-panic", func() engine.Block { return &panicky{} }) }

// panicRig is eth -> boom (test-panic) -> count, with boom:clone -> clones.
type panicRig struct {
	q      *xsk.MemQueue
	e      *engine.Engine
	w      *engine.Worker
	mu     sync.Mutex
	panics []engine.BlockPanic
}

func newPanicRig(t *testing.T, boomOpts string) *panicRig {
	t.Helper()
	r := &panicRig{}
	q, err := xsk.NewMemQueue(xsk.UMEMConfig{FrameSize: 2048, FrameCount: 512, FillSize: 512, CompletionSize: 512}, 256, 256)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.Config{Workers: []engine.WorkerConfig{{Queue: q, UMEM: q.UMEM(), Reserve: 128}},
		OnPanic: func(p engine.BlockPanic) { r.mu.Lock(); r.panics = append(r.panics, p); r.mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.Exec("add eth eth", "add boom test-panic "+boomOpts, "add count counter", "add clones counter",
		"bind eth boom", "bind boom count", "bind boom:clone clones", "hook eth"); err != nil {
		t.Fatal(err)
	}
	r.q, r.e, r.w = q, e, e.Worker(0)
	r.w.RunOnce()
	return r
}

// send delivers good frames, one poisoned frame in the middle when poison
// is set, and runs the worker until they are through.
func (r *panicRig) send(t *testing.T, good int, poison bool) {
	t.Helper()
	f := testFrame()
	half := good / 2
	if r.q.Deliver(f, half) != half {
		t.Fatal("deliver")
	}
	if poison {
		p := testFrame()
		p[poisonOff] = poisonByte
		if r.q.Deliver(p, 1) != 1 {
			t.Fatal("deliver poison")
		}
	}
	if r.q.Deliver(f, good-half) != good-half {
		t.Fatal("deliver")
	}
	for r.w.RunOnce() > 0 {
	}
	r.w.RunOnce()
}

func (r *panicRig) counted(t *testing.T, name string) uint64 {
	t.Helper()
	b, err := r.e.Instance(name)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := b.(*blocks.Counter).Counts()
	return n
}

func (r *panicRig) failed(t *testing.T) (engine.BlockStats, engine.BlockInfo) {
	t.Helper()
	st, err := r.e.BlockStats("boom")
	if err != nil {
		t.Fatal(err)
	}
	var bi engine.BlockInfo
	r.e.View(func(g *engine.Graph) { bi, err = g.Block("boom") })
	if err != nil {
		t.Fatal(err)
	}
	return st, bi
}

// TestBlockPanicForwardsAround: a block that panics is marked failed, the
// event is reported once and counted, and every frame (the poisoned
// vector's included) still reaches the block above; a fresh instance
// (replace-drop) runs again and may fail again.
func TestBlockPanicForwardsAround(t *testing.T) {
	r := newPanicRig(t, "")
	r.send(t, 40, false)
	if st, bi := r.failed(t); st.Panics != 0 || st.Failed != "" || bi.Failed != "" {
		t.Fatalf("healthy block reported failed: %+v %+v", st, bi)
	}
	r.send(t, 40, true)
	st, bi := r.failed(t)
	if st.Panics != 1 || !strings.Contains(st.Failed, "poisoned frame") || bi.Failed != st.Failed {
		t.Fatalf("after the panic: stats %+v info %+v", st, bi)
	}
	r.mu.Lock()
	if len(r.panics) != 1 || r.panics[0].Block != "boom" || r.panics[0].Worker != 0 || !strings.Contains(string(r.panics[0].Stack), "panicky") {
		t.Fatalf("OnPanic saw %+v", r.panics)
	}
	r.mu.Unlock()
	// Failed: bypassed, so further poison passes without a second panic.
	r.send(t, 40, true)
	if got := r.counted(t, "count"); got != 40+41+41 {
		t.Fatalf("count saw %d frames, want all 122", got)
	}
	if st, _ := r.failed(t); st.Panics != 1 {
		t.Fatalf("a failed block was called again: %+v", st)
	}
	// A new instance starts healthy, keeps the name's counters.
	if err := r.e.Exec("add boom2 test-panic", "replace-drop boom boom2"); err != nil {
		t.Fatal(err)
	}
	if st, bi := r.failed(t); st.Failed != "" || bi.Failed != "" || st.Panics != 1 {
		t.Fatalf("replacement inherited the failure: %+v %+v", st, bi)
	}
	r.send(t, 10, true)
	if st, _ := r.failed(t); st.Panics != 2 || st.Failed == "" {
		t.Fatalf("replacement's panic: %+v", st)
	}
	if fc := r.w.Stats().Frames; fc.Held != 0 || fc.InTX != 0 || fc.Free+fc.Spare+fc.Kernel != fc.Total {
		t.Fatalf("frames %+v", fc)
	}
}

// TestBlockPanicFrames: frames the block cloned before panicking go back
// to the free list; a frame it consumed stays consumed (the block may hold
// its address) until it is released.
func TestBlockPanicFrames(t *testing.T) {
	r := newPanicRig(t, "clone=true consume=true")
	r.send(t, 20, true)
	if got := r.counted(t, "clones"); got != 0 {
		t.Fatalf("%d clones of a failed call went on", got)
	}
	// All but the consumed frame continued.
	if got := r.counted(t, "count"); got != 20 {
		t.Fatalf("count saw %d, want 20 (21 sent, 1 consumed)", got)
	}
	fc := r.w.Stats().Frames
	if fc.Held != 1 || fc.Free+fc.Spare+fc.Kernel+fc.Held != fc.Total {
		t.Fatalf("frames %+v: want one held, none lost", fc)
	}
	b, _ := r.e.Instance("boom")
	for _, a := range b.(*panicky).held {
		if err := r.w.Release(a); err != nil {
			t.Fatal(err)
		}
	}
	r.w.RunOnce()
	if fc := r.w.Stats().Frames; fc.Held != 0 || fc.Free+fc.Spare+fc.Kernel != fc.Total {
		t.Fatalf("after release: %+v", fc)
	}
}

// TestMaxBlocks: a graph holds at most MaxBlocks blocks; the transaction
// that would exceed it is refused whole, and replace still works on a full
// graph (the count is taken when the transaction ends).
func TestMaxBlocks(t *testing.T) {
	r := newPanicRig(t, "") // 4 blocks
	var lines []string
	for i := range engine.MaxBlocks - 4 {
		lines = append(lines, fmt.Sprintf("add b%d dummy", i))
	}
	if err := r.e.Exec(lines...); err != nil {
		t.Fatal(err)
	}
	err := r.e.Exec("add one-more dummy")
	if !errors.Is(err, engine.ErrConfig) || !strings.Contains(err.Error(), "at most 1024") {
		t.Fatalf("block %d: %v, want a refusal naming the limit", engine.MaxBlocks+1, err)
	}
	if err := r.e.Exec("add count2 counter", "replace count count2"); err != nil {
		t.Fatalf("replace on a full graph: %v", err)
	}
	var n int
	r.e.View(func(g *engine.Graph) { n = len(g.Names()) })
	if n != engine.MaxBlocks {
		t.Fatalf("%d blocks, want %d", n, engine.MaxBlocks)
	}
}
