package lab

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Kind says what a row measures.
type Kind string

const (
	// Receiver rows measure how fast a receiver takes frames.
	Receiver Kind = "receiver"
	// Generator rows measure how fast a generator gets frames to the peer.
	Generator Kind = "generator"
)

// Names of the rows the ratio columns divide by.
const (
	StackRow   = "stack"
	AsavieRow  = "asavie"
	XDPDropRow = "xdp-drop"
	TrafgenRow = "trafgen"
)

// Sample is one run of one row.
type Sample struct {
	// PPS is the rate the receiver took in the measured window.
	PPS float64
	// StillPPS is, for a row whose runs alternate phases with and without
	// a change (the swap row: rxbench.Options.Phases), the rate without;
	// PPS is then the rate with. 0 otherwise.
	StillPPS float64
	// Drops are the frames lost in the window: the receiver's drop counters
	// for receiver rows, the sending veth's refusals for generator rows.
	Drops uint64
	// Round is the 1-based round the run belongs to (Run measures every
	// row once per round); 0 takes the sample's position among the row's.
	Round int
	// CPU is where the receive CPU's time went in a receiver row's run;
	// nil for generator rows.
	CPU *CPUSplit
}

// CPUSplit is the receive CPU's time per frame received, split between the
// veth's NAPI thread (the kernel's receive work: XDP, the copy into an
// AF_XDP frame, the Linux stack), the receive loop's thread (its system
// calls included) and the receiver's other threads (lanad's control plane
// and Go runtime; asavie's loop runs in the lab's process, whose other
// threads run on the generator's CPU), with the CPU's idle share. A row
// holds the medians of its runs, each part on its own.
type CPUSplit struct {
	NAPINs     float64 `json:"napi_ns_per_frame"`
	ReceiverNs float64 `json:"receiver_ns_per_frame"`
	OtherNs    float64 `json:"other_ns_per_frame"`
	Idle       float64 `json:"idle"`
}

// Row is one line of the table: the runs of one receiver or generator.
type Row struct {
	// Name is the row's name ("xdp-drop", "engine-3", "afxdp" ...).
	Name string `json:"name"`
	// Kind is receiver or generator.
	Kind Kind `json:"kind"`
	// PPSMedian, PPSMin and PPSMax summarise the runs' rates (the median of
	// an even count is the lower middle).
	PPSMedian float64 `json:"pps_median"`
	PPSMin    float64 `json:"pps_min"`
	PPSMax    float64 `json:"pps_max"`
	// Drops is the sum of the runs' drops.
	Drops uint64 `json:"drops"`
	// Runs are the rates of the individual runs, in the order measured,
	// and Rounds the round each belongs to: a failed run leaves its round
	// out, so a row's runs pair with another's by round, not by position.
	Runs   []float64 `json:"runs_pps"`
	Rounds []int     `json:"runs_round"`
	// StillRuns are, for a row whose runs alternate phases (Sample.StillPPS),
	// the runs' rates in the phases without the change, in Runs' order, and
	// StillMedian their median: the row's own base, measured alongside.
	StillRuns   []float64 `json:"still_runs_pps,omitempty"`
	StillMedian float64   `json:"still_pps_median,omitempty"`
	// CPU is, for a receiver row, where the receive CPU's time went per
	// frame: the medians of its runs' CPUSplit; CPURuns are the runs' own,
	// in Runs' order.
	CPU     *CPUSplit  `json:"cpu,omitempty"`
	CPURuns []CPUSplit `json:"cpu_runs,omitempty"`
	// Note says how the row was measured, when that is not obvious.
	Note string `json:"note,omitempty"`
	// Error is why the row has no (or fewer) runs, if it failed.
	Error string `json:"error,omitempty"`
}

// Summarize makes a row from its samples.
func Summarize(name string, kind Kind, samples []Sample) Row {
	r := Row{Name: name, Kind: kind, Runs: make([]float64, 0, len(samples)), Rounds: make([]int, 0, len(samples))}
	var splits []CPUSplit
	for i, s := range samples {
		if s.CPU != nil {
			splits = append(splits, *s.CPU)
		}
		round := s.Round
		if round == 0 {
			round = i + 1
		}
		r.Runs = append(r.Runs, s.PPS)
		r.Rounds = append(r.Rounds, round)
		r.Drops += s.Drops
		if s.StillPPS > 0 {
			r.StillRuns = append(r.StillRuns, s.StillPPS)
		}
	}
	if len(r.Runs) == 0 {
		return r
	}
	if len(r.StillRuns) != len(r.Runs) {
		r.StillRuns = nil // all runs phased, or none
	}
	if len(splits) == len(r.Runs) {
		r.CPURuns = splits // every run split, or none listed
	}
	r.PPSMedian, r.PPSMin, r.PPSMax = median(r.Runs)
	if len(splits) > 0 {
		part := func(f func(CPUSplit) float64) float64 {
			vs := make([]float64, len(splits))
			for i, c := range splits {
				vs[i] = f(c)
			}
			med, _, _ := median(vs)
			return med
		}
		r.CPU = &CPUSplit{
			NAPINs:     part(func(c CPUSplit) float64 { return c.NAPINs }),
			ReceiverNs: part(func(c CPUSplit) float64 { return c.ReceiverNs }),
			OtherNs:    part(func(c CPUSplit) float64 { return c.OtherNs }),
			Idle:       part(func(c CPUSplit) float64 { return c.Idle }),
		}
	}
	if r.StillRuns != nil {
		r.StillMedian, _, _ = median(r.StillRuns)
	}
	return r
}

// median returns the median (the lower middle of an even count), minimum
// and maximum of vs, which must not be empty.
func median(vs []float64) (med, lo, hi float64) {
	sorted := append([]float64(nil), vs...)
	sort.Float64s(sorted)
	return sorted[(len(sorted)-1)/2], sorted[0], sorted[len(sorted)-1]
}

// StillRatios returns, for a row whose runs alternate phases, each run's
// rate with the change over its rate without (Row.StillRuns), in run order;
// nil for other rows.
func StillRatios(r Row) []float64 {
	if len(r.StillRuns) != len(r.Runs) {
		return nil
	}
	out := make([]float64, 0, len(r.Runs))
	for i, pps := range r.Runs {
		if d := r.StillRuns[i]; d > 0 {
			out = append(out, pps/d)
		}
	}
	return out
}

// Report is a lab run's result.
type Report struct {
	// Started is when the run began.
	Started time.Time `json:"started"`
	// Runs and Window are the runs per row and each run's measured window.
	Runs   int           `json:"runs"`
	Window time.Duration `json:"window_ns"`
	// Machine describes where it ran: kernel, CPUs and load, since other
	// work on the machine moves the numbers.
	Machine Machine `json:"machine"`
	// Rows are the receiver rows, then the generator rows, in the order
	// measured.
	Rows []Row `json:"rows"`
	// Targets are the lab's goals checked on these rows (see CheckTargets);
	// those whose rows did not run are left out.
	Targets []TargetResult `json:"targets,omitempty"`
}

// Machine describes the host a report was measured on.
type Machine struct {
	Kernel string `json:"kernel"`
	CPUs   int    `json:"cpus"`
	// LoadBefore and LoadAfter are /proc/loadavg's first three fields.
	LoadBefore string `json:"load_before"`
	LoadAfter  string `json:"load_after"`
}

// Row returns the row called name, if any.
func (rep *Report) Row(name string) (Row, bool) {
	for _, r := range rep.Rows {
		if r.Name == name {
			return r, true
		}
	}
	return Row{}, false
}

// RoundRatios returns a's rate over b's in every round both rows have a run
// in, in round order. Each round measures every row back to back, so these
// ratios are free of the machine's drift between rounds (±15% over tens of
// seconds on the lab's VM), which a ratio of the two rows' medians is not.
func RoundRatios(a, b Row) []float64 {
	byRound := make(map[int]float64, len(b.Runs))
	for i, pps := range b.Runs {
		if i < len(b.Rounds) {
			byRound[b.Rounds[i]] = pps
		}
	}
	var out []float64
	for i, pps := range a.Runs {
		if i >= len(a.Rounds) {
			break
		}
		if d, ok := byRound[a.Rounds[i]]; ok && d > 0 {
			out = append(out, pps/d)
		}
	}
	return out
}

// PairedRatio is the median of RoundRatios(a, b), the lower middle of an
// even count as for the rows' medians; ok is false when no round has both.
func PairedRatio(a, b Row) (ratio float64, ok bool) {
	rs := RoundRatios(a, b)
	if len(rs) == 0 {
		return 0, false
	}
	ratio, _, _ = median(rs)
	return ratio, true
}

// ratio formats PairedRatio(a, b) ("1.23x"), or "-" when b is missing or
// no round has both.
func ratio(a, b Row, ok bool) string {
	if !ok {
		return "-"
	}
	r, ok := PairedRatio(a, b)
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.2fx", r)
}

func mpps(v float64) string { return fmt.Sprintf("%.3f", v/1e6) }

// WriteTable prints the report as text: the receiver rows with their ratios
// to stack and to xdp-drop, then the generator rows with their ratio to
// trafgen. A row without runs shows its error.
func (rep *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	stack, hasStack := rep.Row(StackRow)
	asavie, hasAsavie := rep.Row(AsavieRow)
	drop, hasDrop := rep.Row(XDPDropRow)
	tg, hasTG := rep.Row(TrafgenRow)
	section := func(kind Kind, head string, ratios func(Row) string) {
		first := true
		for _, r := range rep.Rows {
			if r.Kind != kind {
				continue
			}
			if first {
				fmt.Fprintln(tw, head)
				first = false
			}
			if len(r.Runs) == 0 {
				fmt.Fprintf(tw, "%s\tfailed\t-\t-\t-\t-\t-\t-\t\n", r.Name)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t\n", r.Name, mpps(r.PPSMedian), mpps(r.PPSMin),
				mpps(r.PPSMax), r.Drops, ratios(r))
		}
		if !first {
			fmt.Fprintln(tw, "\t\t\t\t\t\t\t")
		}
	}
	section(Receiver, "receiver\tmedian Mpps\tmin\tmax\tdrops\tx stack\tx asavie\tx xdp-drop\t", func(r Row) string {
		return ratio(r, stack, hasStack) + "\t" + ratio(r, asavie, hasAsavie) + "\t" + ratio(r, drop, hasDrop)
	})
	section(Generator, "generator\tmedian Mpps\tmin\tmax\tdrops\tx trafgen\t\t\t", func(r Row) string {
		return ratio(r, tg, hasTG) + "\t\t"
	})
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := rep.writeCPU(w); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d run(s) of %v per row; 64-byte frames; kernel %s, %d CPUs, load %s -> %s\n",
		rep.Runs, rep.Window, rep.Machine.Kernel, rep.Machine.CPUs, rep.Machine.LoadBefore, rep.Machine.LoadAfter)
	fmt.Fprintln(w, "x columns: the median over rounds of the two rows' ratio in each round (a round runs every row once, back to back)")
	if len(rep.Targets) > 0 {
		fmt.Fprintln(w, "targets:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, t := range rep.Targets {
			verdict := "met"
			if !t.Met {
				verdict = "NOT MET"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t\n", t.Name, t.got(), verdict)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, r := range rep.Rows {
		if r.Note != "" {
			fmt.Fprintf(w, "  %s: %s\n", r.Name, r.Note)
		}
		switch {
		case r.Error != "" && len(r.Runs) == 0:
			fmt.Fprintf(w, "  %s failed: %s\n", r.Name, oneLine(r.Error))
		case r.Error != "":
			fmt.Fprintf(w, "  %s: some runs failed: %s\n", r.Name, oneLine(r.Error))
		}
	}
	return nil
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

// writeCPU prints where each receiver row's receive CPU went per frame
// (Row.CPU), when any row has it.
func (rep *Report) writeCPU(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	first := true
	for _, r := range rep.Rows {
		if r.CPU == nil {
			continue
		}
		if first {
			fmt.Fprintln(tw, "receive CPU, ns a frame	NAPI	receive loop	its other threads	idle	")
			first = false
		}
		loop, other := "-", "-"
		if r.CPU.ReceiverNs > 0 {
			loop = fmt.Sprintf("%.1f", r.CPU.ReceiverNs)
		}
		if r.CPU.OtherNs > 0 {
			other = fmt.Sprintf("%.1f", r.CPU.OtherNs)
		}
		fmt.Fprintf(tw, "%s	%.0f	%s	%s	%.1f%%	\n", r.Name, r.CPU.NAPINs, loop, other, 100*r.CPU.Idle)
	}
	if first {
		return nil
	}
	fmt.Fprintln(tw, "\t\t\t\t\t")
	return tw.Flush()
}

// WriteJSON writes the report to path as indented JSON.
func (rep *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
