package engine_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/xsk"
)

// guard is a block that notices being run after Close: the grace period
// Apply waits for must make that impossible.
type guard struct {
	closed atomic.Bool
}

// guardStats are shared by every guard instance of a test.
var guardStats struct {
	vectors, late atomic.Uint64
}

func (g *guard) Configure(opts engine.Options) error { return engine.NewOptionParser(opts).Err() }
func (g *guard) Info() engine.Info                   { return engine.Info{} }
func (g *guard) Start(engine.Env) error              { return nil }
func (g *guard) Close() error {
	g.closed.Store(true)
	return nil
}
func (g *guard) Process(v *engine.Vector) {
	guardStats.vectors.Add(1)
	// Stay inside the block a while, so that transactions land while a
	// worker is in the middle of the old graph.
	for t := time.Now(); time.Since(t) < 5*time.Microsecond; {
	}
	if g.closed.Load() {
		guardStats.late.Add(1)
	}
}

func init() { engine.Register("test-guard", func() engine.Block { return &guard{} }) }

// TestRetiredBlockNeverRunsAfterClose replaces a block thousands of times
// while two workers run it nonstop: Apply must return only once no worker
// can still be inside the old instance, so a retired block is never
// processing when it is closed, and Apply must not stall while workers
// stay busy.
func TestRetiredBlockNeverRunsAfterClose(t *testing.T) {
	const nq = 2
	swaps := 2000
	if testing.Short() {
		swaps = 300
	}
	guardStats.vectors.Store(0)
	guardStats.late.Store(0)
	qs := make([]*xsk.MemQueue, nq)
	wcs := make([]engine.WorkerConfig, nq)
	for i := range qs {
		q, err := xsk.NewMemQueue(xsk.UMEMConfig{FrameSize: 2048, FrameCount: 512, FillSize: 512, CompletionSize: 512}, 256, 256)
		if err != nil {
			t.Fatal(err)
		}
		qs[i] = q
		wcs[i] = engine.WorkerConfig{Queue: q, UMEM: q.UMEM(), QueueID: uint16(i), Mode: engine.PollWakeup}
	}
	e, err := engine.New(engine.Config{Workers: wcs})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Exec("add g test-guard", "hook g"); err != nil {
		t.Fatal(err)
	}
	e.Start()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, q := range qs {
		wg.Add(1)
		go func() { // the "kernel": keeps every worker busy
			defer wg.Done()
			frame := testFrame()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if q.Deliver(frame, 32) == 0 {
					time.Sleep(5 * time.Microsecond)
				}
			}
		}()
	}
	start := time.Now()
	deadline := start.Add(20 * time.Second)
	i := 0
	for ; i < swaps || guardStats.vectors.Load() < 2000 && time.Now().Before(deadline); i++ {
		n := fmt.Sprintf("g%d", i)
		if err := e.Exec("add "+n+" test-guard", "replace-drop g "+n); err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("swap %d: %v", i, err)
		}
	}
	took := time.Since(start)
	close(stop)
	wg.Wait()
	if late := guardStats.late.Load(); late != 0 {
		t.Errorf("a retired block processed %d vectors after its Close", late)
	}
	if v := guardStats.vectors.Load(); v < 2000 {
		t.Errorf("the guards processed %d vectors over %d swaps: the workers were not busy", v, i)
	}
	t.Logf("%d swaps in %v (%v each) while the workers processed %d vectors",
		i, took, took/time.Duration(i), guardStats.vectors.Load())
}
