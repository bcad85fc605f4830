package engine_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/lana-net/lana/blocks"
	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/xsk"
)

// simpleDummy forwards through the per-packet helper, to price it against
// the vector form (blocks.Dummy).
type simpleDummy struct{ engine.Simple }

func (s *simpleDummy) Configure(opts engine.Options) error { return engine.NewOptionParser(opts).Err() }
func (s *simpleDummy) Info() engine.Info                   { return engine.Info{} }
func (s *simpleDummy) Close() error                        { return nil }
func (s *simpleDummy) Start(engine.Env) error {
	s.Fn = func(p *engine.Packet, d engine.Direction) engine.Verdict {
		if p.Len() == 0 {
			return engine.VerdictDrop
		}
		return engine.VerdictContinue
	}
	return nil
}

func init() { engine.Register("test-simple-dummy", func() engine.Block { return &simpleDummy{} }) }

// testFrame is a 64-byte Ethernet/IPv4 frame with a valid unicast source.
func testFrame() []byte {
	f := make([]byte, 64)
	copy(f, []byte{0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00})
	return f
}

// rig is one memory-backed queue driven by one worker on the calling
// goroutine.
type rig struct {
	q *xsk.MemQueue
	e *engine.Engine
	w *engine.Worker
}

func newRig(tb testing.TB, vsize int) *rig { return newRigWith(tb, vsize, nil) }

// newRigWith is newRig with the worker's OnVector hook set to onVector.
func newRigWith(tb testing.TB, vsize int, onVector func(uint64)) *rig {
	tb.Helper()
	q, err := xsk.NewMemQueue(xsk.UMEMConfig{FrameSize: 2048, FrameCount: 4096, FillSize: 4096, CompletionSize: 4096}, 2048, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	e, err := engine.New(engine.Config{VectorSize: vsize, Workers: []engine.WorkerConfig{{Queue: q, UMEM: q.UMEM(), OnVector: onVector}}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	return &rig{q: q, e: e, w: e.Worker(0)}
}

// chain builds eth -> d1 -> ... hooked at eth, with n blocks in all; with
// n == 1 the only block is a dummy.
func chain(tb testing.TB, e *engine.Engine, n int, typ string) {
	tb.Helper()
	var lines []string
	prev := ""
	for i := 0; i < n; i++ {
		name, t := fmt.Sprintf("d%d", i), typ
		if i == 0 && n > 1 {
			name, t = "eth", "eth"
		}
		lines = append(lines, "add "+name+" "+t)
		if prev != "" {
			lines = append(lines, "bind "+prev+" "+name)
		} else {
			lines = append(lines, "hook "+name)
		}
		prev = name
	}
	if err := e.Exec(lines...); err != nil {
		tb.Fatal(err)
	}
}

func runPipeline(b *testing.B, vsize, blocks int, typ string, swap swapper, onVector func(uint64)) {
	r := newRigWith(b, vsize, onVector)
	chain(b, r.e, blocks, typ)
	frame := testFrame()
	r.w.RunOnce() // first refill
	var stop chan struct{}
	var wg sync.WaitGroup
	swaps := 0
	var swapTime time.Duration
	if swap != nil {
		stop = make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			swaps, swapTime = swap(b, r.e, typ, stop)
		}()
	}
	var pkts uint64
	b.ReportAllocs()
	for b.Loop() {
		r.q.Deliver(frame, vsize)
		pkts += uint64(r.w.RunOnce())
	}
	elapsed := b.Elapsed()
	if stop != nil {
		close(stop)
		wg.Wait()
	}
	b.ReportMetric(float64(pkts)/elapsed.Seconds()/1e6, "Mpps")
	st := r.w.Stats()
	if st.RxPackets != pkts || st.Drops["unbound"] != pkts || len(st.Drops) != 1 {
		b.Fatalf("received %d, stats %+v: every packet must reach the end of the chain", pkts, st)
	}
	if swap != nil {
		b.ReportMetric(float64(swaps)/swapTime.Seconds(), "swaps/s")
	}
}

// A swapper replaces block d1 with a fresh one of type typ at a steady
// pace until stop closes, and returns the swaps done and how long it ran.
type swapper func(b *testing.B, e *engine.Engine, typ string, stop <-chan struct{}) (int, time.Duration)

// applied swaps perSec times a second, each with Exec (Apply) at its time.
func applied(perSec int) swapper {
	return func(b *testing.B, e *engine.Engine, typ string, stop <-chan struct{}) (int, time.Duration) {
		start, period := time.Now(), time.Second/time.Duration(perSec)
		for i := 1; ; i++ {
			select {
			case <-stop:
				return i - 1, time.Since(start)
			default:
			}
			time.Sleep(time.Until(start.Add(time.Duration(i) * period)))
			name := fmt.Sprintf("x%d", i)
			if err := e.Exec("add "+name+" "+typ, "replace-drop d1 "+name); err != nil {
				b.Error(err)
				return i - 1, time.Since(start)
			}
		}
	}
}

// scheduled swaps perSec times a second in chains of 100ms (Schedule): the
// worker publishes each between two vectors; the swapper wakes once per
// chain and runs RunDue.
func scheduled(perSec int) swapper {
	return func(b *testing.B, e *engine.Engine, typ string, stop <-chan struct{}) (int, time.Duration) {
		start, period := time.Now(), time.Second/time.Duration(perSec)
		per := int(100 * time.Millisecond / period)
		swaps := 0
		for i := 1; ; i += per {
			txns, at := make([][]engine.Verb, per), make([]time.Time, per)
			for k := range txns {
				name := fmt.Sprintf("x%d", i+k)
				vs, err := engine.ParseVerbs("add "+name+" "+typ, "replace-drop d1 "+name)
				if err != nil {
					b.Error(err)
					return swaps, time.Since(start)
				}
				txns[k], at[k] = vs, start.Add(time.Duration(i+k)*period)
			}
			if _, err := e.Schedule(txns, at, nil); err != nil {
				b.Error(err)
				return swaps, time.Since(start)
			}
			select {
			case <-stop:
				return swaps + e.Unschedule().Published, time.Since(start)
			case <-time.After(time.Until(at[per-1])):
			}
			swaps += e.RunDue().Published
		}
	}
}

// paced is what BenchmarkPipeline's onvector case publishes: a pace
// publisher's store of the running total (the rxbench/lanad use).
var paced atomic.Uint64

// BenchmarkPipeline measures ring -> vector -> blocks -> recycle on one
// core with xsk.MemQueue playing the kernel (its Deliver copies a 64-byte
// frame per packet and is inside the timed loop). blocks=3 is
// eth -> dummy -> dummy; blocks=3 itself runs with WorkerConfig.OnVector
// nil, blocks=3/onvector with a hook that publishes the running total.
func BenchmarkPipeline(b *testing.B) {
	for _, n := range []int{1, 3, 10} {
		b.Run(fmt.Sprintf("blocks=%d", n), func(b *testing.B) { runPipeline(b, 64, n, "dummy", nil, nil) })
	}
	b.Run("blocks=3/swap=1000", func(b *testing.B) { runPipeline(b, 64, 3, "dummy", applied(1000), nil) })
	b.Run("blocks=3/scheduled=1000", func(b *testing.B) { runPipeline(b, 64, 3, "dummy", scheduled(1000), nil) })
	b.Run("blocks=3/simple", func(b *testing.B) { runPipeline(b, 64, 3, "test-simple-dummy", nil, nil) })
	b.Run("blocks=3/vector=1", func(b *testing.B) { runPipeline(b, 1, 3, "dummy", nil, nil) })
	b.Run("blocks=3/vector=256", func(b *testing.B) { runPipeline(b, 256, 3, "dummy", nil, nil) })
	b.Run("blocks=3/onvector", func(b *testing.B) {
		runPipeline(b, 64, 3, "dummy", nil, func(n uint64) { paced.Store(n) })
	})
}

// BenchmarkApplySwap prices the lab's swap transaction on the control plane
// (add two dummies, replace the chain's two dummies with them, keeping
// state), while a worker on another goroutine runs the graph: the
// transaction's own work plus the wait for the worker to leave the old
// graph.
func BenchmarkApplySwap(b *testing.B) {
	b.Run("apply", func(b *testing.B) { benchSwap(b, (*engine.Engine).Apply) })
	b.Run("publish", func(b *testing.B) { benchSwap(b, (*engine.Engine).Publish) })
}

// benchSwap is BenchmarkApplySwap with commit running each transaction.
func benchSwap(b *testing.B, commit func(*engine.Engine, ...engine.Verb) error) {
	r := newRig(b, 64)
	chain(b, r.e, 3, "dummy")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		frame := testFrame()
		for {
			select {
			case <-stop:
				return
			default:
			}
			r.q.Deliver(frame, 64)
			r.w.RunOnce()
		}
	}()
	var txn [2][]engine.Verb
	for gen := range txn {
		for _, d := range []string{"d1", "d2"} {
			nb := d + "-" + string("ab"[gen])
			vs, err := engine.ParseVerbs("add "+nb+" dummy", "replace "+d+" "+nb)
			if err != nil {
				b.Fatal(err)
			}
			txn[gen] = append(txn[gen], vs...)
		}
	}
	// replace keeps the old name: d1 stays d1, so both transactions
	// name fresh helpers that the replace then renames away.
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := commit(r.e, txn[i%2]...); err != nil {
			b.Fatal(err)
		}
		i++
	}
	close(stop)
	wg.Wait()
}
