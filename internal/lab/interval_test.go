package lab

import (
	"math"
	"testing"
)

func TestMedianInterval(t *testing.T) {
	seq := func(n int) []float64 {
		vs := make([]float64, n)
		for i := range vs {
			vs[i] = float64(n - i) // descending: the function must sort
		}
		return vs
	}
	for _, c := range []struct {
		n      int
		lo, hi float64
		level  float64
	}{
		// Five values: the extremes, 1 - 2/32.
		{5, 1, 5, 0.9375},
		// Ten: x(2) and x(9), 1 - 2·11/1024; x(3)..x(8) would cover 89%.
		{10, 2, 9, 1 - 22.0/1024},
		// Twenty: x(6) and x(15), 1 - 2·P(B <= 5) = 0.9586.
		{20, 6, 15, 0.958610535},
	} {
		lo, hi, level, ok := MedianInterval(seq(c.n))
		if !ok || lo != c.lo || hi != c.hi || math.Abs(level-c.level) > 1e-6 {
			t.Errorf("n=%d: [%v, %v] at %.6f (ok %v), want [%v, %v] at %.6f", c.n, lo, hi, level, ok, c.lo, c.hi, c.level)
		}
	}
	for _, n := range []int{0, 1, 3, 4} {
		if _, _, level, ok := MedianInterval(seq(n)); ok {
			t.Errorf("n=%d: an interval at %.3f, want none under 90%%", n, level)
		}
	}
}

// TestTargetInterval checks that a target over five rounds carries the
// interval of its ratios and prints it.
func TestTargetInterval(t *testing.T) {
	row := func(name string, pps ...float64) Row {
		var s []Sample
		for i, p := range pps {
			s = append(s, Sample{PPS: p, Round: i + 1})
		}
		return Summarize(name, Receiver, s)
	}
	rep := &Report{Rows: []Row{
		row("asavie", 10, 10, 10, 10, 10),
		row("lanad-3", 9, 10.5, 10, 11, 9.8), // ratios 0.9 1.05 1.0 1.1 0.98
	}}
	var got *TargetResult
	for _, r := range CheckTargets(rep, Targets("lanad")) {
		if r.Name == "lanad-3 >= 1x asavie" {
			got = &r
		}
	}
	if got == nil {
		t.Fatal("the asavie target was not checked")
	}
	if got.Low != 0.9 || got.High != 1.1 || math.Abs(got.Level-0.9375) > 1e-9 || got.Got != 1 || !got.Met {
		t.Errorf("target %+v, want 1x met, interval 0.9-1.1 at 0.9375", got)
	}
	if s, want := got.got(), "1.00x (0.90-1.10 at 93%), met in 3 of 5 rounds"; s != want {
		t.Errorf("target reads %q, want %q", s, want)
	}
}
