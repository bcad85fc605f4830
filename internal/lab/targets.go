package lab

import (
	"fmt"
	"math"
)

// Target is one of the lab's goals (issue 6): row Row at Want times row
// Base or more, as a paired ratio (PairedRatio); or, with Base empty, row
// Row without a dropped frame.
type Target struct {
	Row, Base string
	Want      float64
	// InRun compares Row with itself: each run's rate with its change over
	// its rate in the phases without (StillRatios), which measure Base's
	// receiver in the same process and seconds. A Row without such phases
	// falls back to Base's row, paired by round.
	InRun bool
}

// Targets returns the lab's goals with the lanad rows under label ("lanad"
// or "engine"):
//   - xdp-live at 10x trafgen or more, afxdp at 1.5x: a fast generator;
//   - <label>-3 at or above stack and asavie, with no frame dropped: the
//     paper's claim, LANA at least as fast as the kernel's stack and as a
//     plain Go AF_XDP receiver;
//   - <label>-swap at 95% of <label>-3 or more: reconfiguring every 10ms
//     costs the data path little. Measured inside each swap run, against
//     its phases without swaps (the same lanad-3 receiver): between two
//     processes, this machine's rates differ by far more than 5%.
func Targets(label string) []Target {
	three, swap := label+"-3", label+"-swap"
	return []Target{
		{Row: "xdp-live", Base: TrafgenRow, Want: 10},
		{Row: "afxdp", Base: TrafgenRow, Want: 1.5},
		{Row: three, Base: StackRow, Want: 1},
		{Row: three, Base: AsavieRow, Want: 1},
		{Row: three},
		{Row: swap, Base: three, Want: 0.95, InRun: true},
	}
}

// Name says what the target asks: "lanad-3 >= 1x asavie", "lanad-3 drops 0".
func (t Target) Name() string {
	if t.Base == "" {
		return t.Row + " drops 0"
	}
	return fmt.Sprintf("%s >= %gx %s", t.Row, t.Want, t.Base)
}

// TargetResult is a target checked on a report.
type TargetResult struct {
	Name string  `json:"name"`
	Want float64 `json:"want"`
	// Got is the paired ratio (PairedRatio), or the frames dropped over
	// all runs for a drops target.
	Got float64 `json:"got"`
	// Rounds is how many rounds both rows ran in (for drops: the row's
	// runs; for an in-run target: the runs), and RoundsMet how many of
	// those met the target on their own.
	Rounds    int  `json:"rounds"`
	RoundsMet int  `json:"rounds_met"`
	Met       bool `json:"met"`
	// Low and High bound the median of the ratios at confidence Level
	// (MedianInterval), when the rounds give one of 90% or more (five
	// rounds or more); absent for a drops target.
	Low   float64 `json:"low,omitempty"`
	High  float64 `json:"high,omitempty"`
	Level float64 `json:"level,omitempty"`
	// InRun says the ratio is each run's against its own still phases
	// (Target.InRun), not against the base row.
	InRun bool `json:"in_run,omitempty"`
	drops bool
}

func (t TargetResult) got() string {
	if t.drops {
		return fmt.Sprintf("%.0f dropped in %d run(s)", t.Got, t.Rounds)
	}
	s := fmt.Sprintf("%.2fx", t.Got)
	if t.Level > 0 {
		s += fmt.Sprintf(" (%.2f-%.2f at %.0f%%)", t.Low, t.High, math.Floor(100*t.Level))
	}
	if t.InRun {
		return s + fmt.Sprintf(", met in %d of %d runs (each against its phases without swaps)", t.RoundsMet, t.Rounds)
	}
	return s + fmt.Sprintf(", met in %d of %d rounds", t.RoundsMet, t.Rounds)
}

// CheckTargets checks targets on rep's rows. A target whose rows are
// missing or have no runs is left out: the lab did not measure it.
func CheckTargets(rep *Report, targets []Target) []TargetResult {
	var out []TargetResult
	for _, t := range targets {
		row, ok := rep.Row(t.Row)
		if !ok || len(row.Runs) == 0 {
			continue
		}
		res := TargetResult{Name: t.Name(), Want: t.Want}
		if t.Base == "" {
			res.drops, res.Got, res.Rounds = true, float64(row.Drops), len(row.Runs)
			res.Met = row.Drops == 0
			if res.Met {
				res.RoundsMet = res.Rounds
			}
			out = append(out, res)
			continue
		}
		var ratios []float64
		if t.InRun {
			ratios = StillRatios(row)
			res.InRun = len(ratios) > 0
		}
		if len(ratios) == 0 {
			base, ok := rep.Row(t.Base)
			if !ok {
				continue
			}
			ratios = RoundRatios(row, base)
		}
		if len(ratios) == 0 {
			continue
		}
		res.Got, _, _ = median(ratios)
		if lo, hi, level, ok := MedianInterval(ratios); ok {
			res.Low, res.High, res.Level = lo, hi, level
		}
		res.Rounds = len(ratios)
		for _, r := range ratios {
			if r >= t.Want {
				res.RoundsMet++
			}
		}
		res.Met = res.Got >= t.Want
		out = append(out, res)
	}
	return out
}
