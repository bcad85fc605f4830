package engine

import (
	"fmt"
	"runtime/debug"
	"sync/atomic"
)

// BlockPanic describes a block instance that panicked in Process.
type BlockPanic struct {
	// Block is the instance's name in the graph the worker was running.
	Block string
	// Worker is the index of the worker whose call panicked.
	Worker int
	// Value is the panic value, formatted with %v.
	Value string
	// Stack is the worker goroutine's stack at the panic.
	Stack []byte
}

// failure is the first panic of one block instance. Written once per
// instance by the worker that caught it, read by workers (to skip the
// instance) and by the control plane.
type failure struct {
	block Block // the instance that failed; a replacement starts healthy
	info  BlockPanic
}

// health is a slot's failure record, kept beside its counters so that it
// reaches every worker through the compiled graph without a map lookup.
type health struct {
	failed atomic.Pointer[failure] // nil, or the last instance that panicked
	panics atomic.Uint64           // panics of every instance under this name, ever
}

// failedInst reports whether instance b of this slot has failed.
func (h *health) failedInst(b Block) bool {
	f := h.failed.Load()
	return f != nil && f.block == b
}

// failureOf returns b's panic message, "" while b is healthy.
func (h *health) failureOf(b Block) string {
	if f := h.failed.Load(); f != nil && f.block == b {
		return f.info.Value
	}
	return ""
}

// process calls nd's block with v and contains a panic: the instance is
// marked failed (workers pass packets around it from then on), the
// vector's packets continue (those the block had already consumed stay
// consumed: the block may hold their addresses), frames it emitted are
// freed, and Config.OnPanic hears about it. Worker goroutine only.
//
// The deferred call costs about a nanosecond per block per vector
// (BenchmarkPipeline before/after in docs/reliability.md).
func (w *Worker) process(nd *node, v *Vector) {
	defer w.contain(nd, v)
	nd.block.Process(v)
}

// contain is process's deferred half; recover works only when called
// directly by the deferred function.
func (w *Worker) contain(nd *node, v *Vector) {
	r := recover()
	if r == nil {
		return
	}
	for i := range v.Pkts {
		if v.verdicts[i] != VerdictConsumed {
			v.verdicts[i] = VerdictContinue
		}
	}
	for i := range v.emitted {
		w.freeFrame(v.emitted[i].Addr)
	}
	v.emitted, v.emitOut = v.emitted[:0], v.emitOut[:0]
	f := &failure{block: nd.block, info: BlockPanic{Block: nd.name, Worker: w.idx, Value: fmt.Sprint(r), Stack: debug.Stack()}}
	nd.slot.health.failed.Store(f)
	nd.slot.health.panics.Add(1)
	if fn := w.e.onPanic; fn != nil {
		fn(f.info)
	}
}
