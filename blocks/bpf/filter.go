package bpf

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/internal/cbpf"
)

func init() { engine.Register("bpf", func() engine.Block { return &Filter{} }) }

// dropFiltered is the index of the "filtered" drop reason.
const dropFiltered = 0

// Filter drops the frames a classic BPF program rejects (returns 0) and
// passes the others on unchanged. The accept length a program returns is
// not used to truncate frames: any non-zero value passes the whole frame.
//
// Options:
//   - filter=EXPR   a pcap-filter expression as tcpdump takes it, for the
//     subset documented at cbpf.CompileExpr (e.g. "udp dst port 9").
//   - program=TEXT  a raw program in `tcpdump -dd` form
//     ("{ 0x28, 0, 0, 0x0000000c },...") or `tcpdump -ddd` form (count,
//     then "op jt jf k" per instruction, separated by newlines or commas).
//   - dir=both      which direction is filtered: ingress, egress or both;
//     frames travelling the other way pass untouched.
//
// At most one of filter and program may be non-empty; with neither, every
// frame passes. Programs are validated (at most 4096 instructions, known
// opcodes, forward in-range jumps, a final return, no constant division by
// zero) when the options are set; a refused program leaves the running
// instance in place.
//
// Outputs: none beyond continue. Verdicts: continue or drop. Drop reasons:
// "filtered". Counters: Counts() returns passed and filtered frames summed
// over workers (frames of the unfiltered direction count as passed);
// replace and set carry them over.
type Filter struct {
	prog     *cbpf.Program // nil: pass everything
	ingress  bool
	egress   bool
	text     string    // the program in -dd form, for Program()
	machines []machine // per worker, written only by that worker
	counts   *counters // per worker, shared with the instance we replace
}

// machine is one worker's register file, padded so two workers never share
// a cache line.
type machine struct {
	m cbpf.Machine
	_ [64]byte
}

// counters are per-worker passed/filtered counts, each slot written by its
// worker only (load + atomic store once per vector) and summed by readers.
type counters struct{ c []counterSlot }

type counterSlot struct {
	passed, filtered atomic.Uint64
	_                [64 - 16]byte
}

// Configure compiles the filter or program option and reports every error.
func (f *Filter) Configure(opts engine.Options) error {
	p := engine.NewOptionParser(opts)
	expr := strings.TrimSpace(p.String("filter", ""))
	text := strings.TrimSpace(p.String("program", ""))
	switch dir := p.String("dir", "both"); dir {
	case "both":
		f.ingress, f.egress = true, true
	case "ingress":
		f.ingress = true
	case "egress":
		f.egress = true
	default:
		p.Fail("dir", dir, "must be ingress, egress or both")
	}
	var errs []error
	switch {
	case expr != "" && text != "":
		p.Fail("program", abbrev(text), "filter and program are exclusive (set the other to empty)")
	case expr != "":
		raw, err := cbpf.CompileExpr(expr)
		if err == nil {
			f.prog, err = cbpf.Load(raw)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("option filter=%q: %w: %w", expr, err, engine.ErrBadOption))
		}
	case text != "":
		raw, err := cbpf.ParseText(text)
		if err == nil {
			f.prog, err = cbpf.Load(raw)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("option program=%q: %w: %w", abbrev(text), err, engine.ErrBadOption))
		}
	}
	if f.prog != nil {
		f.text = cbpf.FormatText(f.prog.Raw())
	}
	return errors.Join(append(errs, p.Err())...)
}

func abbrev(s string) string {
	if len(s) > 48 {
		return s[:48] + "..."
	}
	return s
}

// Info reports the "filtered" drop reason.
func (f *Filter) Info() engine.Info { return engine.Info{Reasons: []string{"filtered"}} }

// Start allocates a machine and a counter slot per worker.
func (f *Filter) Start(env engine.Env) error {
	n := max(env.Workers, 1)
	f.machines = make([]machine, n)
	f.counts = &counters{c: make([]counterSlot, n)}
	return nil
}

// TakeState adopts the replaced filter's counters by reference (each worker
// runs either the old or the new instance, so every slot keeps one writer).
// The program is never taken: the new instance runs its own.
func (f *Filter) TakeState(old engine.Block) {
	if o, ok := old.(*Filter); ok && o.counts != nil && len(o.counts.c) == len(f.counts.c) {
		f.counts = o.counts
	}
}

// Process runs the program on every packet of v and drops those it rejects.
func (f *Filter) Process(v *engine.Vector) {
	c := &f.counts.c[v.Worker]
	if f.prog == nil || (v.Dir == engine.Ingress && !f.ingress) || (v.Dir == engine.Egress && !f.egress) {
		c.passed.Store(c.passed.Load() + uint64(len(v.Pkts)))
		return
	}
	m := &f.machines[v.Worker].m
	var filtered uint64
	for i := range v.Pkts {
		if f.prog.Run(m, v.Pkts[i].Data()) == 0 {
			v.Drop(i, dropFiltered)
			filtered++
		}
	}
	c.passed.Store(c.passed.Load() + uint64(len(v.Pkts)) - filtered)
	if filtered != 0 {
		c.filtered.Store(c.filtered.Load() + filtered)
	}
}

// Counts returns the passed and filtered frames summed over workers. Safe
// from any goroutine.
func (f *Filter) Counts() (passed, filtered uint64) {
	if f.counts == nil {
		return 0, 0
	}
	for i := range f.counts.c {
		passed += f.counts.c[i].passed.Load()
		filtered += f.counts.c[i].filtered.Load()
	}
	return passed, filtered
}

// Program returns the running program in `tcpdump -dd` form ("" when the
// filter passes everything).
func (f *Filter) Program() string { return f.text }

// Close does nothing.
func (f *Filter) Close() error { return nil }

// Counters implements engine.Reporter.
func (f *Filter) Counters() map[string]uint64 {
	p, fl := f.Counts()
	return map[string]uint64{"passed": p, "filtered": fl}
}
