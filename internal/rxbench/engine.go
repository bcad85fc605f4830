package rxbench

import (
	"errors"
	"fmt"

	"github.com/lana-net/lana/blocks"
	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/xsk"
)

// Engine receives with LANA's engine: one worker on one xsk.Socket runs a
// chain of Blocks blocks (eth -> dummy -> ... ; Blocks 1 is a lone dummy,
// 3 the paper's eth -> dummy -> dummy), optionally followed by a counter
// block. The worker's loop is the receive loop: Loop runs Worker.Run on the
// thread rxbench pinned, so the worker shares the receive CPU with the NAPI
// thread like every other receiver. The frames taken are published for
// pacing through WorkerConfig.OnVector.
//
// Frames leave the chain's end as the engine's "unbound" drop: they were
// received and recycled, which is what a receiver is measured on.
type Engine struct {
	// Blocks is the chain's length (default 3).
	Blocks int
	// Counter appends a counter block named "count" to the chain.
	Counter bool
	// Mode is the worker's poll mode; NameMode adds it to Name.
	Mode     engine.PollMode
	NameMode bool

	afxdp
	sock *xsk.Socket
	eng  *engine.Engine
}

// Name implements Receiver: lana-engine-<blocks>[+counter][-<mode>].
func (e *Engine) Name() string {
	n := fmt.Sprintf("lana-engine-%d", e.blocks())
	if e.Counter {
		n += "+counter"
	}
	if e.NameMode {
		n += "-" + e.Mode.String()
	}
	return n
}

func (e *Engine) blocks() int {
	if e.Blocks <= 0 {
		return 3
	}
	return e.Blocks
}

// Setup implements Receiver: program, socket, engine and graph.
func (e *Engine) Setup(ifindex int) (err error) {
	defer func() {
		if err != nil {
			err = errors.Join(err, e.Close())
		}
	}()
	if err := e.setupProgram(ifindex); err != nil {
		return err
	}
	e.sock, err = xsk.Open(ifindex, 0, xsk.Config{
		UMEM:   xsk.UMEMConfig{FrameSize: frameSize, FrameCount: frameCount, FillSize: 2 * frameCount},
		RXSize: ringSize, TXSize: 64,
	})
	if err != nil {
		return err
	}
	if err := e.prog.Register(0, e.sock.FD()); err != nil {
		return err
	}
	wc := engine.SocketWorker(e.sock)
	wc.Mode = e.Mode
	wc.OnVector = e.consumed.Store // the frames taken, for pacing
	e.eng, err = engine.New(engine.Config{VectorSize: batch, Workers: []engine.WorkerConfig{wc}})
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if err := e.eng.Exec(ChainVerbs(e.blocks(), e.Counter)...); err != nil {
		return fmt.Errorf("engine graph: %w", err)
	}
	return nil
}

// Chain names the blocks of the chain Engine runs: n blocks, a lone dummy
// "d1" for n = 1, else "eth" followed by dummies "d1".."d<n-1>".
func Chain(n int) (names, types []string) {
	if n > 1 {
		names, types = append(names, "eth"), append(types, "eth")
	}
	for i := 1; i <= max(n-1, 1); i++ {
		names, types = append(names, fmt.Sprintf("d%d", i)), append(types, "dummy")
	}
	return names, types
}

// ChainVerbs returns the verbs that build and hook Chain(n), followed by a
// counter "count" when counter is set.
func ChainVerbs(n int, counter bool) []string {
	names, types := Chain(n)
	if counter {
		names, types = append(names, "count"), append(types, "counter")
	}
	var verbs []string
	for i := range names {
		verbs = append(verbs, "add "+names[i]+" "+types[i])
		if i == 0 {
			verbs = append(verbs, "hook "+names[i])
		} else {
			verbs = append(verbs, "bind "+names[i-1]+" "+names[i])
		}
	}
	return verbs
}

// Exec applies verbs to the running engine as one transaction (a graph
// swap), from any goroutine.
func (e *Engine) Exec(verbs ...string) error { return e.eng.Exec(verbs...) }

// Publish parses verbs and publishes them as one transaction without
// waiting for the grace period (engine.Engine.Publish); Sync ends what
// Publish deferred.
func (e *Engine) Publish(verbs ...string) error {
	vs, err := engine.ParseVerbs(verbs...)
	if err != nil {
		return err
	}
	return e.eng.Publish(vs...)
}

// Sync waits for the grace period of every Publish and closes the blocks
// they retired (engine.Engine.Sync).
func (e *Engine) Sync() error { return e.eng.Sync() }

// Loop implements Receiver: the engine's worker runs on the calling
// (pinned, locked) thread until stop is closed.
func (e *Engine) Loop(stop <-chan struct{}) error {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-stop:
			e.eng.Stop() // makes Run return; its error is Run's to report
		case <-done:
		}
	}()
	return e.eng.Worker(0).Run()
}

// Drops implements Receiver: the socket's kernel drops. The engine's own
// drops are frames it received, so they count as received.
func (e *Engine) Drops() (Drops, error) {
	k, err := e.sock.KernelStats()
	if err != nil {
		return Drops{}, err
	}
	return Drops{FillRingEmpty: k.RxFillRingEmptyDescs, RingFull: k.RxRingFull,
		Other: k.RxDropped + k.RxInvalidDescs}, nil
}

// Counts returns the counter block's packets and bytes (Counter set); also
// after Close.
func (e *Engine) Counts() (packets, bytes uint64, err error) {
	b, err := e.eng.Instance("count")
	if err != nil {
		return 0, 0, err
	}
	c, ok := b.(*blocks.Counter)
	if !ok {
		return 0, 0, fmt.Errorf("block count is %T, not a counter", b)
	}
	p, by := c.Counts()
	return p, by, nil
}

// Close implements Receiver: engine (stopping the worker), socket, program.
func (e *Engine) Close() error {
	var errs []error
	if e.eng != nil {
		errs = append(errs, e.eng.Close()) // idempotent; Counts still reads it
	}
	if e.sock != nil {
		errs = append(errs, e.sock.Close())
		e.sock = nil
	}
	return errors.Join(append(errs, e.close())...)
}
