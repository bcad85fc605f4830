package lab

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lana-net/lana/internal/cpuset"
	"github.com/lana-net/lana/internal/rxbench"
	"github.com/lana-net/lana/internal/testbed"
	"github.com/lana-net/lana/internal/xdpcount"
)

// ErrRow reports a row name the lab does not know.
var ErrRow = errors.New("unknown row")

// Defaults of a run: five runs of 1.5 s per row. Five runs give a median
// that one slow or fast run cannot move (this machine's rates swing by
// ±20% from run to run); 1.5 s windows keep the default lab, 12 rows, at
// about two minutes. Eight runs of 0.75 s take as long and were no
// steadier here (docs/performance.md, "How steady a lab's verdict is").
const (
	DefaultRuns   = 5
	DefaultWindow = 1500 * time.Millisecond
)

// Swap row parameters: lanad-3 with its graph replaced this often.
const (
	SwapBlocks = 3
	SwapEvery  = 10 * time.Millisecond
	// SwapPhases split each run of the swap row: the graph is swapped in
	// half of them and left alone in the others (rxbench.Options.Phases),
	// so the row's target compares the receiver with and without swaps in
	// the same process and the same seconds.
	SwapPhases = 8
)

// DefaultRows returns the rows of a default run, receivers first, with the
// lanad rows under the backend's label; swap-ctl only for a backend with a
// control API (ClientSwapper).
func DefaultRows(b LanadBackend) []string {
	label := b.Label()
	rows := []string{"xdp-drop", "stack", "asavie", label + "-1", label + "-3", label + "-10", label + "-swap"}
	if _, ok := b.(ClientSwapper); ok {
		rows = append(rows, label+"-swap-ctl")
	}
	return append(rows, "xdp-live", "afxdp", "afpacket", TrafgenRow)
}

// Config shapes a lab run. A zero field takes the default in its comment.
type Config struct {
	// Rows are the rows to measure, in order (default DefaultRows). The
	// lanad rows may be named lanad-N or <label>-N; they are reported
	// under the backend's label. With a backend other than InProcess,
	// engine-N rows run InProcess beside them. trafgen is skipped (with a
	// note) when not on PATH.
	Rows []string
	// Runs per row (default DefaultRuns).
	Runs int
	// Window is each run's measured time (default DefaultWindow); Warmup precedes it
	// (default 300ms).
	Window, Warmup time.Duration
	// GenCPU is the generator's CPU, RxCPU the receiver's and the receiving
	// NAPI thread's (defaults 0 and 1).
	GenCPU, RxCPU int
	// Lanad makes the lanad rows' receivers (default InProcess).
	Lanad LanadBackend
	// Progress, if set, is told what runs and, about every 250ms during a
	// window, the live rate. Called from several goroutines.
	Progress func(Progress)

	defaulted bool // Rows are DefaultRows: measured in pairedOrder
}

// Progress is a progress report.
type Progress struct {
	Row       string
	Run, Runs int // 1-based
	// LivePPS is the rate over the last interval (0 at a run's start).
	LivePPS float64
	// Done is set once per row, with the row's summary.
	Done *Row
}

func (c *Config) defaults() {
	if c.Lanad == nil {
		c.Lanad = InProcess{}
	}
	if len(c.Rows) == 0 {
		c.Rows, c.defaulted = DefaultRows(c.Lanad), true
	}
	if c.Runs <= 0 {
		c.Runs = DefaultRuns
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.Warmup <= 0 {
		c.Warmup = 300 * time.Millisecond
	}
	if c.GenCPU == 0 && c.RxCPU == 0 {
		c.RxCPU = 1
	}
	if c.Progress == nil {
		c.Progress = func(Progress) {}
	}
}

// row is a resolved row name.
type row struct {
	name string
	kind Kind
	// receiver rows
	receiver func() rxbench.Receiver
	blocks   int          // lanad rows
	backend  LanadBackend // lanad rows: Config.Lanad, or InProcess for engine-N beside lanad-N
	swap     bool         // the swap rows
	client   bool         // the swap-ctl row: each swap sent by a client
	// generator rows
	gen string
}

func (c *Config) resolve() ([]row, error) {
	var rows []row
	for _, name := range c.Rows {
		r := row{name: name, kind: Receiver}
		switch name {
		case "xdp-drop":
			r.receiver = func() rxbench.Receiver { return &rxbench.Kernel{Action: xdpcount.Drop} }
		case "stack":
			r.receiver = func() rxbench.Receiver { return &rxbench.Kernel{Action: xdpcount.Pass} }
		case "asavie":
			r.receiver = func() rxbench.Receiver { return &rxbench.Asavie{} }
		case "xdp-live", "afxdp", "afpacket", TrafgenRow:
			r.kind, r.gen = Generator, name
		default:
			prefix, suffix, ok := strings.Cut(name, "-")
			label := c.Lanad.Label()
			r.backend = c.Lanad
			if ok && prefix == (InProcess{}).Label() && label != prefix {
				// engine-N beside lanad-N: the same chain in the lab's
				// process, the daemon's cost measured side by side.
				r.backend, label = InProcess{}, prefix
			}
			if !ok || (prefix != "lanad" && prefix != label) {
				return nil, fmt.Errorf("%w %q: rows are %s, and engine-N (the engine in the lab's process)", ErrRow, name, strings.Join(DefaultRows(Process{}), ", "))
			}
			r.name = label + "-" + suffix
			if suffix == "swap" || suffix == "swap-ctl" {
				r.blocks, r.swap, r.client = SwapBlocks, true, suffix == "swap-ctl"
				if _, ok := r.backend.(ClientSwapper); r.client && !ok {
					return nil, fmt.Errorf("%w %q: the %s rows have no control API to send changes through (use --lanad=process)", ErrRow, name, label)
				}
			} else if n, err := strconv.Atoi(suffix); err == nil && n >= 1 && n <= 64 {
				r.blocks = n
			} else {
				return nil, fmt.Errorf("%w %q: %s-N takes 1 to 64 blocks, or %s-swap, %s-swap-ctl", ErrRow, name, prefix, prefix, prefix)
			}
			blocks, backend := r.blocks, r.backend
			r.receiver = func() rxbench.Receiver { return backend.Receiver(blocks, c.RxCPU) }
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// identity returns 0, 1, ..., n-1.
func identity(n int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	return order
}

// pairedOrder returns the order in which a round measures the default rows
// (indices into rows): the two rows of each close target back to back
// (asavie, label-3, label-swap; afxdp, trafgen, xdp-live), because the
// machine drifts over seconds and rows measured next to each other drift
// least apart. label-3 against stack, five times apart, needs no such
// care. The report keeps the rows' own order. Rows it does not know go
// last, in their order.
func pairedOrder(rows []row, label string) []int {
	seq := []string{"xdp-drop", StackRow, label + "-1", label + "-10", AsavieRow, label + "-3",
		label + "-swap", label + "-swap-ctl", "afpacket", "afxdp", TrafgenRow, "xdp-live"}
	rank := func(name string) int {
		if i := slices.Index(seq, name); i >= 0 {
			return i
		}
		return len(seq)
	}
	order := identity(len(rows))
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(rank(rows[a].name), rank(rows[b].name)) })
	return order
}

// Run measures cfg's rows and returns the report. Every run gets a fresh
// namespace pair. The runs are interleaved: round i measures run i of
// every row (default rows in pairedOrder, rows given in their order), so
// that a drift of the machine (this VM's rates move by ±15% over tens of
// seconds) falls on every row alike instead of on whichever rows happened
// to run during it; the ratios between rows are what the lab is for. When ctx ends it stops, removes
// everything and returns each row summarised over the runs it finished,
// with ctx's error. A row whose runs fail is reported with its errors; the
// other rows still run.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	cfg.defaults()
	rows, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	// The lab's own goroutines (progress, the generator's bookkeeping)
	// stay off the receive CPU, which belongs to the receiver under test
	// and its NAPI thread: every row pays for its own receive work and
	// nothing else. Pinned threads (the generator, an in-process
	// receiver's loop, the swap row's lanactl) pin themselves afterwards.
	if _, err := cpuset.KeepOff([]int{cfg.RxCPU}); err != nil {
		return nil, err
	}
	rep = &Report{Started: time.Now(), Runs: cfg.Runs, Window: cfg.Window, Machine: machine()}
	defer func() { rep.Machine.LoadAfter = loadavg() }()
	states := make([]rowState, len(rows))
	for k, r := range rows {
		if r.gen == TrafgenRow {
			if states[k].trafgen, err = exec.LookPath("trafgen"); err != nil {
				states[k].fatal = "trafgen not on PATH (netsniff-ng package)"
			}
		}
	}
	finish := func() {
		for k, r := range rows {
			if len(states[k].samples) == 0 && len(states[k].errs) == 0 && states[k].fatal == "" && ctx.Err() != nil {
				continue // never ran
			}
			out := cfg.summarize(r, &states[k])
			rep.Rows = append(rep.Rows, out)
			cfg.Progress(Progress{Row: out.Name, Done: &out})
		}
		rep.Targets = CheckTargets(rep, Targets(cfg.Lanad.Label()))
	}
	order := identity(len(rows))
	if cfg.defaulted {
		order = pairedOrder(rows, cfg.Lanad.Label())
	}
	for i := 1; i <= cfg.Runs; i++ {
		for _, k := range order {
			r := rows[k]
			if ctx.Err() != nil {
				finish()
				return rep, ctx.Err()
			}
			st := &states[k]
			if st.fatal != "" {
				continue
			}
			cfg.Progress(Progress{Row: r.name, Run: i, Runs: cfg.Runs})
			var s Sample
			var err error
			if r.kind == Receiver {
				s, err = cfg.receiverRun(ctx, r, i, st)
			} else {
				s, err = cfg.generatorRun(ctx, r, i, st.trafgen)
			}
			switch {
			case ctx.Err() != nil: // the run was cut short: not a result
			case err != nil:
				st.errs = append(st.errs, fmt.Sprintf("run %d: %v", i, err))
			default:
				s.Round = i
				st.samples = append(st.samples, s)
			}
		}
	}
	finish()
	return rep, nil
}

// rowState is what a row has gathered over the rounds.
type rowState struct {
	samples []Sample
	errs    []string
	swaps   int64  // the swap row's swaps
	trafgen string // the trafgen binary, for its row
	fatal   string // the row cannot run at all
}

// summarize makes r's row of the report from its runs.
func (cfg *Config) summarize(r row, st *rowState) Row {
	out := Summarize(r.name, r.kind, st.samples)
	out.Error = strings.Join(st.errs, "; ")
	if st.fatal != "" {
		out.Error = st.fatal
	}
	switch {
	case r.kind == Generator:
		out.Note = generatorNote(r.gen)
	case r.client:
		out.Note = fmt.Sprintf("%s-%d with every dummy replaced every %v, each change sent by lanactl batch on the receive CPU (%d swaps done in %d run(s))",
			r.backend.Label(), SwapBlocks, SwapEvery, st.swaps, len(st.samples)+len(st.errs))
	case r.swap:
		out.Note = fmt.Sprintf("%s-%d with every dummy replaced every %v %s, in %d of the %d phases of each run, which lasts twice the window (%d swaps done in %d run(s)); "+
			"the other phases, the same receiver left alone, took %s Mpps (median)",
			r.backend.Label(), SwapBlocks, SwapEvery, r.backend.SwapNote(), SwapPhases/2, SwapPhases, st.swaps,
			len(st.samples)+len(st.errs), mpps(out.StillMedian))
	case r.blocks > 0:
		out.Note = r.backend.Note(r.blocks)
	}
	return out
}

// withPair runs fn on a fresh namespace pair and removes the pair after.
// Every receiver run gets its own pair: the kernel frees an AF_XDP socket's
// queue asynchronously, sometimes after the next receiver's bind has given up.
func withPair(fn func(p *testbed.Pair) error) (err error) {
	p, err := testbed.NewPair(testbed.Options{})
	if err != nil {
		return fmt.Errorf("namespace pair: %w", err)
	}
	defer func() {
		if cerr := p.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("remove namespace pair: %w", cerr))
		}
	}()
	return fn(p)
}

// receiverRun measures one run of a receiver row on a fresh pair; the swap
// row's swaps are added to st.
func (cfg *Config) receiverRun(ctx context.Context, r row, run int, st *rowState) (Sample, error) {
	inner := r.receiver()
	rcv := &watched{Receiver: inner}
	opts := rxbench.Options{Warmup: cfg.Warmup, Window: cfg.Window, GenCPU: cfg.GenCPU, RxCPU: cfg.RxCPU}
	switch {
	case r.client:
		opts.During = r.backend.(ClientSwapper).ClientSwapper(inner, SwapEvery)
	case r.swap:
		// Half the window swaps, half does not: twice the window gives
		// each half a whole one.
		opts.During = r.backend.Swapper(inner, SwapEvery)
		opts.Phases, opts.Window = SwapPhases, 2*cfg.Window
	}
	stopLive := cfg.live(r.name, run, rcv.count)
	var res rxbench.Result
	err := withPair(func(p *testbed.Pair) (err error) {
		res, err = rxbench.Run(ctx, p, rcv, opts)
		return err
	})
	stopLive()
	if s, ok := inner.(interface{ Swaps() int64 }); ok && r.swap {
		st.swaps += s.Swaps()
	}
	if err != nil {
		return Sample{}, err
	}
	return Sample{PPS: res.PPS, StillPPS: res.StillPPS, Drops: res.Drops.Total(),
		CPU: &CPUSplit{NAPINs: res.NAPINsPerPacket, ReceiverNs: res.LoopNsPerPacket,
			OtherNs: res.OtherNsPerPacket, Idle: res.RxIdle}}, nil
}

// watched lets the progress goroutine read a receiver's count only between
// a successful Setup and Close: a receiver's Consumed is not meant to be
// called outside that span.
type watched struct {
	rxbench.Receiver
	mu    sync.RWMutex
	ready bool // guarded by mu
}

func (w *watched) Setup(ifindex int) error {
	err := w.Receiver.Setup(ifindex)
	w.mu.Lock()
	w.ready = err == nil
	w.mu.Unlock()
	return err
}

func (w *watched) Close() error {
	w.mu.Lock()
	w.ready = false
	w.mu.Unlock()
	return w.Receiver.Close()
}

// ReceiveThreads implements rxbench.ThreadReporter for the receivers that
// do (lanad's), and reports Loop's own thread for the others.
func (w *watched) ReceiveThreads() (loop int, others []int, err error) {
	if tr, ok := w.Receiver.(rxbench.ThreadReporter); ok {
		return tr.ReceiveThreads()
	}
	return 0, nil, nil
}

// count is the receiver's count, 0 outside Setup..Close; any goroutine.
func (w *watched) count() uint64 {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if !w.ready {
		return 0
	}
	n, _ := w.Receiver.Consumed()
	return n
}

// live reports the rate of count every 250ms until the returned function is
// called.
func (cfg *Config) live(name string, run int, count func() uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		last, at := count(), time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				n := count()
				if n < last { // the receiver (re)started
					last = n
				}
				cfg.Progress(Progress{Row: name, Run: run, Runs: cfg.Runs,
					LivePPS: float64(n-last) / now.Sub(at).Seconds()})
				last, at = n, now
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), LoadBefore: loadavg()}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	return m
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
