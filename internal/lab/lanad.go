package lab

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	_ "github.com/lana-net/lana/blocks" // eth, dummy

	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/internal/rxbench"
	"github.com/lana-net/lana/xsk"
)

// LanadBackend makes the receivers of the lanad rows. The lab asks it for
// a receiver per run and, for the swap row, for a function that replaces
// that receiver's graph periodically during the measured window. Driving a
// real lanad process means another implementation of this interface, nothing
// else: see docs/lab.md for what that one needs from the daemon.
type LanadBackend interface {
	// Label prefixes the row names: "lanad" for the daemon, "engine" for
	// the in-process stand-in.
	Label() string
	// Receiver returns a fresh receiver running eth followed by blocks-1
	// dummy blocks (blocks = 1: a lone dummy), the paper's chain for 3.
	// cpu is the receive CPU (Config.RxCPU): a backend whose worker runs
	// outside rxbench's pinned receive loop pins it there.
	Receiver(blocks, cpu int) rxbench.Receiver
	// Note says how a row of blocks blocks is measured, for the table.
	Note(blocks int) string
	// Swapper returns the function that replaces r's graph every period
	// until ctx ends (rxbench.Options.During); r came from Receiver.
	Swapper(r rxbench.Receiver, every time.Duration) func(ctx context.Context) error
}

// InProcess is the LanadBackend that runs LANA's engine inside the lab's own
// process, on the receive CPU: what lanad runs per queue, without the
// daemon's control plane. Its rows are labelled "engine-N".
type InProcess struct{}

// Label implements LanadBackend.
func (InProcess) Label() string { return "engine" }

// Receiver implements LanadBackend.
// The worker runs on rxbench's receive loop, already pinned to cpu.
func (InProcess) Receiver(blocks, cpu int) rxbench.Receiver { return &engineReceiver{blocks: blocks} }

// Note implements LanadBackend.
func (InProcess) Note(blocks int) string {
	return fmt.Sprintf("LANA's engine in the lab's process (lanad's data path without the daemon), %d block(s)", blocks)
}

// Swapper implements LanadBackend: every period it replaces each dummy of
// the chain with a fresh one, one transaction (one graph swap) at a time.
func (InProcess) Swapper(r rxbench.Receiver, every time.Duration) func(ctx context.Context) error {
	er := r.(*engineReceiver)
	return func(ctx context.Context) error {
		t := time.NewTicker(every)
		defer t.Stop()
		for gen := 0; ; gen++ {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			if err := er.swap(gen); err != nil {
				return err
			}
			er.swaps.Add(1)
		}
	}
}

// engineReceiver is an rxbench.Receiver running an engine worker on LANA's
// XDP program and one xsk socket on queue 0, the way lanad runs a queue.
type engineReceiver struct {
	blocks int
	prog   *xsk.Program
	sock   *xsk.Socket
	eng    *engine.Engine
	pace   *rxbench.PaceCounter
	last   uint64       // worker goroutine: total taken at the previous vector
	swaps  atomic.Int64 // transactions the swapper completed
}

// Swaps is the number of graph swaps done.
func (e *engineReceiver) Swaps() int64 { return e.swaps.Load() }

// Sizes as rxbench's AF_XDP receivers, so the rows compare.
const (
	engFrameSize  = 2048
	engFrameCount = 4096
	engRing       = 2048
	engVector     = 64
)

func (e *engineReceiver) Name() string { return fmt.Sprintf("engine-%d", e.blocks) }

// chain returns the names of the chain's blocks and their types.
func (e *engineReceiver) chain() (names, types []string) {
	if e.blocks > 1 {
		names, types = append(names, "eth"), append(types, "eth")
	}
	for i := 1; i <= max(e.blocks-1, 1); i++ {
		names, types = append(names, fmt.Sprintf("d%d", i)), append(types, "dummy")
	}
	return names, types
}

func (e *engineReceiver) Setup(ifindex int) (err error) {
	defer func() {
		if err != nil {
			err = errors.Join(err, e.Close())
		}
	}()
	if e.pace, err = rxbench.NewPaceCounter(); err != nil {
		return err
	}
	if e.prog, err = xsk.NewProgram(xsk.ProgramConfig{Steering: xsk.Steering{All: true}}); err != nil {
		return err
	}
	if _, err := e.prog.Attach(ifindex); err != nil {
		return err
	}
	e.sock, err = xsk.Open(ifindex, 0, xsk.Config{
		UMEM:   xsk.UMEMConfig{FrameSize: engFrameSize, FrameCount: engFrameCount, FillSize: 2 * engFrameCount},
		RXSize: engRing, TXSize: 64,
	})
	if err != nil {
		return err
	}
	if err := e.prog.Register(0, e.sock.FD()); err != nil {
		return err
	}
	wc := engine.SocketWorker(e.sock)
	wc.Mode = engine.PollAdaptive
	wc.OnVector = func(total uint64) { e.pace.Add(total - e.last); e.last = total }
	if e.eng, err = engine.New(engine.Config{VectorSize: engVector, Workers: []engine.WorkerConfig{wc}}); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	names, types := e.chain()
	var verbs []string
	for i := range names {
		verbs = append(verbs, "add "+names[i]+" "+types[i])
		if i == 0 {
			verbs = append(verbs, "hook "+names[i])
		} else {
			verbs = append(verbs, "bind "+names[i-1]+" "+names[i])
		}
	}
	if err := e.eng.Exec(verbs...); err != nil {
		return fmt.Errorf("engine graph: %w", err)
	}
	return nil
}

// swap replaces every dummy with a fresh one in one transaction.
func (e *engineReceiver) swap(gen int) error {
	names, types := e.chain()
	var verbs []string
	for i, n := range names {
		if types[i] != "dummy" {
			continue
		}
		nb := fmt.Sprintf("%s-%d", n, gen)
		verbs = append(verbs, "add "+nb+" dummy", "replace "+n+" "+nb)
	}
	if err := e.eng.Exec(verbs...); err != nil {
		return fmt.Errorf("swap %d: %w", gen, err)
	}
	return nil
}

func (e *engineReceiver) PaceMap() *ebpf.Map { return e.pace.Map() }

// Loop runs the worker on rxbench's pinned thread until stop closes.
func (e *engineReceiver) Loop(stop <-chan struct{}) error {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-stop:
			e.eng.Stop()
		case <-done:
		}
	}()
	return e.eng.Worker(0).Run()
}

func (e *engineReceiver) Consumed() (uint64, error) { return e.pace.Load(), nil }

func (e *engineReceiver) Drops() (rxbench.Drops, error) {
	k, err := e.sock.KernelStats()
	if err != nil {
		return rxbench.Drops{}, err
	}
	return rxbench.Drops{FillRingEmpty: k.RxFillRingEmptyDescs, RingFull: k.RxRingFull,
		Other: k.RxDropped + k.RxInvalidDescs}, nil
}

func (e *engineReceiver) Close() error {
	var errs []error
	if e.eng != nil {
		errs = append(errs, e.eng.Close())
		e.eng = nil
	}
	if e.sock != nil {
		errs = append(errs, e.sock.Close())
		e.sock = nil
	}
	if e.prog != nil {
		errs = append(errs, e.prog.Close())
		e.prog = nil
	}
	if e.pace != nil {
		errs = append(errs, e.pace.Close())
		e.pace = nil
	}
	return errors.Join(errs...)
}
