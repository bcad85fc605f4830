package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lana-net/lana/internal/lab"
	"github.com/lana-net/lana/internal/testbed"
)

func init() { subcommands = append(subcommands, labCmd) }

// labFlags holds the lab subcommand's flags.
type labFlags struct {
	runs           int
	window, warmup time.Duration
	rows           []string
	jsonPath       string
	chartPath      string
	genCPU, rxCPU  int
	lanad          string // process or inprocess
	lanadBin       string // lanad binary ("": LocateLanad)
	lanadPoll      string // lanad's poll mode ("": Process's default)
}

func labCmd() *cobra.Command {
	var f labFlags
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Measure LANA's Table 1 on a private namespace pair",
		Long: `lab builds a pair of network namespaces joined by veth, pins the generator to
one CPU and each receiver, with the receiving veth's NAPI thread, to another,
and measures, several runs each, how many 64-byte frames per second:

  receivers   xdp-drop, stack, asavie, lanad-1, lanad-3, lanad-10, lanad-swap,
              lanad-swap-ctl
  generators  xdp-live, afxdp, afpacket, trafgen (when on PATH)

The lanad rows run the lanad daemon, one process per run, in the receiving
namespace (--lanad=process, the default; the binary is taken from next to
lanabench, built from the source tree the current directory is in, or found
on PATH). --lanad=inprocess runs LANA's engine inside this process instead,
for machines without lanad; those rows are labelled engine-N (see
docs/lab.md). engine-N rows may also run beside lanad-N rows, to measure
what the daemon costs.

It prints the table (median, min, max, drops, ratios to stack, asavie and
xdp-drop, paired run by run) and the goals it checks, met or not, draws a
bar chart (--chart, PNG or SVG by extension) and, with --json, writes the
rows and the goals as JSON. Ctrl-C stops it and removes everything it made. Needs root.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLab(cmd.Context(), f, os.Stdout, os.Stderr)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.runs, "runs", lab.DefaultRuns, "runs per row")
	fl.DurationVar(&f.window, "window", lab.DefaultWindow, "measured time per run")
	fl.DurationVar(&f.warmup, "warmup", 300*time.Millisecond, "warm-up before each run's window")
	fl.StringSliceVar(&f.rows, "rows", nil, "rows to measure, comma-separated (default: all)")
	fl.StringVar(&f.jsonPath, "json", "", "write the report as JSON to this file")
	fl.StringVar(&f.chartPath, "chart", "lab.png", "bar chart file, .png or .svg, relative to the current directory (\"\": none)")
	fl.IntVar(&f.genCPU, "gen-cpu", 0, "generator CPU")
	fl.IntVar(&f.rxCPU, "rx-cpu", 1, "receiver and NAPI CPU")
	fl.StringVar(&f.lanad, "lanad", "process", "what runs the lanad rows: process (the lanad daemon) or inprocess (the engine in this process, rows engine-N)")
	fl.StringVar(&f.lanadBin, "lanad-bin", "", "lanad binary for --lanad=process (default: next to lanabench, built from the source tree, or on PATH); the swap-ctl row runs the lanactl next to it")
	fl.StringVar(&f.lanadPoll, "lanad-poll", "", "lanad's poll mode for --lanad=process: busy, wakeup (default) or adaptive")
	return cmd
}

func runLab(ctx context.Context, f labFlags, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if !testbed.Privileged() {
		return errors.New("lab: needs root (namespaces, veth, XDP programs)")
	}
	if f.genCPU == f.rxCPU {
		return fmt.Errorf("lab: --gen-cpu %d equals --rx-cpu: the generator and the receiver need a CPU each", f.genCPU)
	}
	if f.chartPath != "" {
		if ext := strings.ToLower(filepath.Ext(f.chartPath)); ext != ".png" && ext != ".svg" {
			return fmt.Errorf("lab: --chart %s: the name must end in .png or .svg", f.chartPath)
		}
	}
	backend, cleanup, err := labBackend(f, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	pr := newLabProgress(stderr)
	rep, err := lab.Run(ctx, lab.Config{
		Rows: f.rows, Runs: f.runs, Window: f.window, Warmup: f.warmup,
		GenCPU: f.genCPU, RxCPU: f.rxCPU, Progress: pr.report, Lanad: backend,
	})
	pr.clear()
	if rep == nil {
		return err
	}
	if len(rep.Rows) > 0 {
		if terr := rep.WriteTable(stdout); terr != nil {
			return terr
		}
	}
	if err != nil {
		return fmt.Errorf("lab: %w (everything it made is removed)", err)
	}
	if f.jsonPath != "" {
		if err := rep.WriteJSON(f.jsonPath); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "JSON: %s\n", f.jsonPath)
	}
	if f.chartPath != "" {
		if err := rep.WriteChart(f.chartPath); err != nil {
			return err
		}
		abs, _ := filepath.Abs(f.chartPath)
		fmt.Fprintf(stdout, "chart: %s\n", abs)
	}
	return nil
}

// labBackend returns what runs the lanad rows, per --lanad.
func labBackend(f labFlags, stderr io.Writer) (lab.LanadBackend, func(), error) {
	switch f.lanad {
	case "inprocess":
		return lab.InProcess{}, func() {}, nil
	case "process", "":
	default:
		return nil, nil, fmt.Errorf("lab: --lanad %q: must be process or inprocess", f.lanad)
	}
	switch f.lanadPoll {
	case "", "busy", "wakeup", "adaptive":
	default:
		return nil, nil, fmt.Errorf("lab: --lanad-poll %q: must be busy, wakeup or adaptive", f.lanadPoll)
	}
	needed := len(f.rows) == 0
	for _, r := range f.rows {
		needed = needed || strings.HasPrefix(r, "lanad-") || strings.HasPrefix(r, "engine-")
	}
	if f.lanadBin != "" || !needed { // no lanad row: nothing to locate or build
		ctl := ""
		if f.lanadBin != "" {
			ctl = lab.LocateLanactl(f.lanadBin)
		}
		return lab.Process{Lanad: f.lanadBin, Lanactl: ctl, Poll: f.lanadPoll}, func() {}, nil
	}
	bin, ctl, cleanup, err := lab.LocateLanad(stderr)
	if err != nil {
		return nil, nil, fmt.Errorf("lab: %w", err)
	}
	return lab.Process{Lanad: bin, Lanactl: ctl, Poll: f.lanadPoll}, cleanup, nil
}

// labProgress shows which row and run is measured: one rewritten line with
// the live rate on a terminal, a line per run otherwise.
type labProgress struct {
	mu   sync.Mutex
	w    io.Writer
	tty  bool
	last string
}

func newLabProgress(w io.Writer) *labProgress {
	p := &labProgress{w: w}
	if f, ok := w.(*os.File); ok {
		p.tty = isTerminal(f)
	}
	return p
}

func (p *labProgress) report(ev lab.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case ev.Done != nil:
		if p.tty {
			fmt.Fprint(p.w, "\r\033[K")
		}
		fmt.Fprintf(p.w, "%-12s median %7.3f Mpps over %d run(s)\n", ev.Done.Name, ev.Done.PPSMedian/1e6, len(ev.Done.Runs))
	case p.tty:
		line := fmt.Sprintf("%-12s run %d/%d", ev.Row, ev.Run, ev.Runs)
		if ev.LivePPS > 0 {
			line += fmt.Sprintf("  %7.3f Mpps", ev.LivePPS/1e6)
		}
		fmt.Fprint(p.w, "\r\033[K"+line)
	case ev.LivePPS == 0:
		if key := fmt.Sprint(ev.Row, ev.Run); key != p.last {
			fmt.Fprintf(p.w, "%s run %d/%d\n", ev.Row, ev.Run, ev.Runs)
			p.last = key
		}
	}
}

func (p *labProgress) clear() {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
