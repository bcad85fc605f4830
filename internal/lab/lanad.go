package lab

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	_ "github.com/lana-net/lana/blocks" // eth, dummy

	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/internal/rxbench"
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
	// until ctx ends (rxbench.Options.During); r came from Receiver. The
	// lab calls it once per swap phase of a run (SwapPhases).
	Swapper(r rxbench.Receiver, every time.Duration) func(ctx context.Context) error
	// SwapNote says who makes the swap row's changes, for the table.
	SwapNote() string
}

// ClientSwapper is a LanadBackend with a control API that a client process
// can reconfigure it through: it makes the swap-ctl row, whose graph
// changes are each sent by a client as they are due.
type ClientSwapper interface {
	// ClientSwapper returns the function that replaces r's graph every
	// period until ctx ends, a client's transaction at a time.
	ClientSwapper(r rxbench.Receiver, every time.Duration) func(ctx context.Context) error
}

// InProcess is the LanadBackend that runs LANA's engine inside the lab's own
// process, on the receive CPU: what lanad runs per queue, without the
// daemon's control plane. Its rows are labelled "engine-N".
type InProcess struct{}

// Label implements LanadBackend.
func (InProcess) Label() string { return "engine" }

// Receiver implements LanadBackend.
// The worker runs on rxbench's receive loop, already pinned to cpu, in
// wakeup mode like the lanad rows.
func (InProcess) Receiver(blocks, cpu int) rxbench.Receiver {
	return &engineReceiver{Engine: &rxbench.Engine{Blocks: blocks, Mode: engine.PollWakeup}, blocks: blocks}
}

// Note implements LanadBackend.
func (InProcess) Note(blocks int) string {
	return fmt.Sprintf("LANA's engine in the lab's process (lanad's data path without the daemon), %d block(s), poll wakeup", blocks)
}

// SwapNote implements LanadBackend.
func (InProcess) SwapNote() string { return "by a goroutine of the lab calling the engine" }

// Swapper implements LanadBackend: every period it replaces each dummy of
// the chain with a fresh one, one transaction (one graph swap) at a time,
// published as lanad's replay publishes them (engine.Engine.Publish) and
// synced when ctx ends.
func (InProcess) Swapper(r rxbench.Receiver, every time.Duration) func(ctx context.Context) error {
	er := r.(*engineReceiver)
	return func(ctx context.Context) (err error) {
		defer func() {
			if serr := er.Sync(); serr != nil && err == nil {
				err = fmt.Errorf("sync swaps: %w", serr)
			}
		}()
		return everyPeriod(ctx, every, func(gen int) error {
			names, types := rxbench.Chain(er.blocks)
			var verbs []string
			for i, n := range names {
				if types[i] == "dummy" {
					nb := fmt.Sprintf("%s-%d", n, gen)
					verbs = append(verbs, "add "+nb+" dummy", "replace "+n+" "+nb)
				}
			}
			if err := er.Publish(verbs...); err != nil {
				return fmt.Errorf("swap %d: %w", gen, err)
			}
			er.swaps.Add(1)
			return nil
		})
	}
}

// everyPeriod calls fn(0), fn(1), ... once per period until ctx ends or fn
// fails; the end of ctx is not an error.
func everyPeriod(ctx context.Context, period time.Duration, fn func(gen int) error) error {
	t := time.NewTicker(period)
	defer t.Stop()
	for gen := 0; ; gen++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := fn(gen); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// engineReceiver is rxbench's in-process engine receiver, counting the
// swaps the swap row made.
type engineReceiver struct {
	*rxbench.Engine
	blocks int
	swaps  atomic.Int64
}

// Swaps is the number of graph swaps done.
func (e *engineReceiver) Swaps() int64 { return e.swaps.Load() }
