package engine_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
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
	vectors, late, made, closed atomic.Uint64
}

func (g *guard) Configure(opts engine.Options) error { return engine.NewOptionParser(opts).Err() }
func (g *guard) Info() engine.Info                   { return engine.Info{} }
func (g *guard) Start(engine.Env) error              { return nil }
func (g *guard) Close() error {
	guardStats.closed.Add(1)
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

func init() {
	engine.Register("test-guard", func() engine.Block {
		guardStats.made.Add(1)
		return &guard{}
	})
}

// TestRetiredBlockNeverRunsAfterClose replaces a block thousands of times
// while two workers run it nonstop, by Apply and by Publish: Apply must
// return only once no worker can still be inside the old instance, and
// Publish must close it only once none can, so a retired block is never
// processing when it is closed; neither may stall while workers stay busy.
func TestRetiredBlockNeverRunsAfterClose(t *testing.T) {
	t.Run("apply", func(t *testing.T) { retireUnderLoad(t, (*engine.Engine).Apply, nil) })
	t.Run("publish", func(t *testing.T) {
		retireUnderLoad(t, (*engine.Engine).Publish, syncClosesAllButOne(t))
	})
	// Each transaction scheduled for now and published by a worker between
	// two of its vectors; RunDue reaps.
	t.Run("schedule", func(t *testing.T) { retireUnderLoad(t, publishByWorker, syncClosesAllButOne(t)) })
}

// syncClosesAllButOne checks, after retireUnderLoad's swaps, that Sync
// closes every guard but the one in the stack.
func syncClosesAllButOne(t *testing.T) func(e *engine.Engine) {
	return func(e *engine.Engine) {
		if err := e.Sync(); err != nil {
			t.Fatal(err)
		}
		if c, n := guardStats.closed.Load(), guardStats.made.Load(); c != n-1 {
			t.Errorf("after Sync %d of %d guards are closed, want all but the one in the stack", c, n)
		}
	}
}

// publishByWorker schedules vs for now and waits until a worker has
// published it (block g is a new instance), then runs RunDue to reap.
func publishByWorker(e *engine.Engine, vs ...engine.Verb) error {
	old, err := e.Instance("g")
	if err != nil {
		return err
	}
	if _, err := e.Schedule([][]engine.Verb{vs}, []time.Time{time.Now()}, nil); err != nil {
		return err
	}
	for deadline := time.Now().Add(5 * time.Second); ; runtime.Gosched() {
		if b, _ := e.Instance("g"); b != old {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("no worker published the transaction within 5s")
		}
	}
	if st := e.RunDue(); st.Published != 1 || st.Left != 0 {
		return fmt.Errorf("schedule state after the worker published: %+v", st)
	}
	return nil
}

// retireUnderLoad is TestRetiredBlockNeverRunsAfterClose with commit
// running each transaction; after, when set, checks the engine once the
// workers are idle, before it closes.
func retireUnderLoad(t *testing.T, commit func(*engine.Engine, ...engine.Verb) error, after func(*engine.Engine)) {
	const nq = 2
	swaps := 2000
	if testing.Short() {
		swaps = 300
	}
	for _, c := range []*atomic.Uint64{&guardStats.vectors, &guardStats.late, &guardStats.made, &guardStats.closed} {
		c.Store(0)
	}
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
		if err := commit(e, verbs(t, "add "+n+" test-guard", "replace-drop g "+n)...); err != nil {
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
	if after != nil {
		after(e)
	}
}

// verbs parses lines as verbs.
func verbs(t *testing.T, lines ...string) []engine.Verb {
	t.Helper()
	vs, err := engine.ParseVerbs(lines...)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// gate is a block that, while its test holds gateHeld, stops inside Process
// until released, so a test can keep a worker in a known graph; it counts
// its Close calls and fails them when its option fail=1 is set.
type gate struct {
	fail   bool
	closed atomic.Bool
}

// gateHeld, when not nil, is where a gate's Process reports entering and
// then waits for gateRelease.
var gateHeld, gateRelease chan struct{}

func (g *gate) Configure(opts engine.Options) error {
	p := engine.NewOptionParser(opts)
	g.fail = p.Bool("fail", false)
	return p.Err()
}
func (g *gate) Info() engine.Info      { return engine.Info{} }
func (g *gate) Start(engine.Env) error { return nil }
func (g *gate) Close() error {
	g.closed.Store(true)
	if g.fail {
		return fmt.Errorf("gate refuses to close")
	}
	return nil
}
func (g *gate) Process(v *engine.Vector) {
	if gateHeld != nil {
		gateHeld <- struct{}{}
		<-gateRelease
	}
}

func init() { engine.Register("test-gate", func() engine.Block { return &gate{} }) }

// holdWorker runs one vector through r's graph on another goroutine and
// returns once the worker is inside a gate block, with the function that
// lets it finish (and waits until it has).
func holdWorker(t *testing.T, r *rig) (release func()) {
	t.Helper()
	gateHeld, gateRelease = make(chan struct{}), make(chan struct{})
	if r.q.Deliver(testFrame(), 1) != 1 {
		t.Fatal("the queue took no frame")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.w.RunOnce()
	}()
	select {
	case <-gateHeld:
	case <-time.After(5 * time.Second):
		t.Fatal("the worker never reached the gate")
	}
	return func() {
		close(gateRelease)
		<-done
		gateHeld, gateRelease = nil, nil
	}
}

// instance returns block name's live instance as a gate.
func instance(t *testing.T, e *engine.Engine, name string) *gate {
	t.Helper()
	b, err := e.Instance(name)
	if err != nil {
		t.Fatal(err)
	}
	return b.(*gate)
}

// heldInGate builds a rig whose stack is one gate block g (with opts, e.g.
// "fail=1"), and returns it with g's instance once a worker is inside it,
// and the function that lets the worker go (holdWorker).
func heldInGate(t *testing.T, opts string) (r *rig, g *gate, release func()) {
	t.Helper()
	r = newRig(t, 64)
	if err := r.e.Exec(strings.TrimSpace("add g test-gate "+opts), "hook g"); err != nil {
		t.Fatal(err)
	}
	r.w.RunOnce() // first refill
	return r, instance(t, r.e, "g"), holdWorker(t, r)
}

// TestPublishDefersClose keeps a worker inside the old instance of a block
// while Publish replaces it: Publish returns at once, the old instance stays
// open while the worker can still be in it, and the first Publish after the
// worker moved on closes it.
func TestPublishDefersClose(t *testing.T) {
	r, old, release := heldInGate(t, "")
	published := make(chan error, 1)
	go func() { published <- r.e.Publish(verbs(t, "add g1 test-gate", "replace-drop g g1")...) }()
	select {
	case err := <-published:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		release()
		t.Fatal("Publish waited for the worker")
	}
	if err := r.e.Publish(verbs(t, "add x dummy")...); err != nil {
		t.Fatal(err)
	}
	if old.closed.Load() {
		t.Fatal("the old instance was closed while the worker could still be inside it")
	}
	release() // the worker finishes the vector and parks
	if old.closed.Load() {
		t.Fatal("the old instance was closed before a Publish, Apply or Sync looked")
	}
	if err := r.e.Publish(verbs(t, "add y dummy")...); err != nil {
		t.Fatal(err)
	}
	if !old.closed.Load() {
		t.Fatal("Publish did not close the old instance after the worker left it")
	}
	if err := r.e.Sync(); err != nil {
		t.Fatalf("Sync with nothing deferred: %v", err)
	}
}

// TestSyncWaitsForWorkers keeps a worker inside a block that Publish
// retired: Sync waits until the worker leaves, then closes the block and
// returns the error its Close failed with.
func TestSyncWaitsForWorkers(t *testing.T) {
	r, old, release := heldInGate(t, "fail=1")
	if err := r.e.Publish(verbs(t, "add g1 test-gate", "replace-drop g g1")...); err != nil {
		release()
		t.Fatal(err)
	}
	synced := make(chan error, 1)
	go func() { synced <- r.e.Sync() }()
	select {
	case err := <-synced:
		release()
		t.Fatalf("Sync returned (%v) while the worker was inside the retired block", err)
	case <-time.After(100 * time.Millisecond):
	}
	if old.closed.Load() {
		release()
		t.Fatal("the retired block was closed while the worker was inside it")
	}
	release()
	select {
	case err := <-synced:
		if err == nil || !strings.Contains(err.Error(), "gate refuses to close") {
			t.Fatalf("Sync: %v, want the retired block's close error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Sync did not return after the worker left")
	}
	if !old.closed.Load() {
		t.Fatal("Sync returned before closing the retired block")
	}
	if err := r.e.Sync(); err != nil {
		t.Fatalf("a second Sync reported %v again", err)
	}
}

// TestPublishBoundsPending keeps a worker in an old graph while Publish
// runs: the first MaxPending transactions return at once, the next waits
// for the worker instead of keeping yet another graph, and returns once the
// worker left.
func TestPublishBoundsPending(t *testing.T) {
	r, _, release := heldInGate(t, "")
	for i := 0; i < engine.MaxPending; i++ {
		// Each replace retires a block, so each leaves a retirement.
		n := fmt.Sprintf("g%d", i)
		if err := r.e.Publish(verbs(t, "add "+n+" test-gate", "replace g "+n)...); err != nil {
			release()
			t.Fatal(err)
		}
	}
	published := make(chan error, 1)
	go func() { published <- r.e.Publish(verbs(t, "add last test-gate", "replace g last")...) }()
	select {
	case err := <-published:
		release()
		t.Fatalf("Publish %d returned (%v) with the worker still in the first graph", engine.MaxPending+1, err)
	case <-time.After(100 * time.Millisecond):
	}
	release()
	select {
	case err := <-published:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Publish did not return after the worker left")
	}
}

// TestApplyKeepsDeferredErrorsForSync publishes the retirement of a block
// whose Close fails, then applies another transaction: Apply ends the
// earlier grace period too, but reports only its own blocks' errors; the
// deferred one waits for Sync.
func TestApplyKeepsDeferredErrorsForSync(t *testing.T) {
	r, old, release := heldInGate(t, "fail=1")
	if err := r.e.Publish(verbs(t, "add g1 test-gate", "replace-drop g g1")...); err != nil {
		release()
		t.Fatal(err)
	}
	release()
	if err := r.e.Apply(verbs(t, "add x dummy")...); err != nil {
		t.Fatalf("Apply reported %v, an earlier Publish's close error", err)
	}
	if !old.closed.Load() {
		t.Fatal("Apply did not close the block an earlier Publish retired")
	}
	if err := r.e.Sync(); err == nil || !strings.Contains(err.Error(), "gate refuses to close") {
		t.Fatalf("Sync: %v, want the deferred close error", err)
	}
}
