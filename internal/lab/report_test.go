package lab

import (
	"bytes"
	"encoding/json"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fakeReport() *Report {
	return &Report{
		Runs: 3, Window: 2 * time.Second,
		Machine: Machine{Kernel: "6.18.0", CPUs: 2, LoadBefore: "1.00 0.50 0.25", LoadAfter: "2.00 1.00 0.50"},
		Rows: []Row{
			Summarize("xdp-drop", Receiver, []Sample{{PPS: 4e6}, {PPS: 5e6}, {PPS: 6e6}}),
			Summarize("stack", Receiver, []Sample{{PPS: 1e6, CPU: &CPUSplit{NAPINs: 1200}}, {PPS: 0.5e6}, {PPS: 2e6}}),
			Summarize("engine-3", Receiver, []Sample{
				{PPS: 2.5e6, Drops: 3, CPU: &CPUSplit{NAPINs: 320, ReceiverNs: 70, Idle: 0.05}},
				{PPS: 2e6, Drops: 4, CPU: &CPUSplit{NAPINs: 300, ReceiverNs: 80, Idle: 0.03}}}),
			{Name: "asavie", Kind: Receiver, Error: "setup: boom\nsecond line"},
			Summarize("afxdp", Generator, []Sample{{PPS: 1.5e6}}),
			Summarize("trafgen", Generator, []Sample{{PPS: 1e6, Drops: 10}}),
		},
	}
}

func TestSummarize(t *testing.T) {
	r := Summarize("x", Receiver, []Sample{{PPS: 3, Drops: 1}, {PPS: 1, Drops: 2}, {PPS: 2}})
	if r.PPSMedian != 2 || r.PPSMin != 1 || r.PPSMax != 3 || r.Drops != 3 {
		t.Errorf("odd count: %+v", r)
	}
	if got := r.Runs; len(got) != 3 || got[0] != 3 || got[1] != 1 || got[2] != 2 {
		t.Errorf("runs not kept in measured order: %v", got)
	}
	r = Summarize("x", Receiver, []Sample{{PPS: 4}, {PPS: 1}, {PPS: 3}, {PPS: 2}})
	if r.PPSMedian != 2 {
		t.Errorf("even count: median %v, want the lower middle 2", r.PPSMedian)
	}
	// The CPU split takes each part's median over the runs that have one.
	r = Summarize("x", Receiver, []Sample{
		{PPS: 1, CPU: &CPUSplit{NAPINs: 300, ReceiverNs: 75, OtherNs: 2, Idle: 0.1}},
		{PPS: 2},
		{PPS: 3, CPU: &CPUSplit{NAPINs: 250, ReceiverNs: 70, OtherNs: 1, Idle: 0.04}},
		{PPS: 4, CPU: &CPUSplit{NAPINs: 280, ReceiverNs: 72, OtherNs: 3, Idle: 0.02}}})
	if c := r.CPU; c == nil || *c != (CPUSplit{NAPINs: 280, ReceiverNs: 72, OtherNs: 2, Idle: 0.04}) {
		t.Errorf("cpu split %+v, want the medians 280, 72, 2, 0.04", c)
	}
	if r.CPURuns != nil {
		t.Errorf("a run without a split, yet the runs' splits are listed: %+v", r.CPURuns)
	}
	r = Summarize("x", Receiver, []Sample{{PPS: 1, CPU: &CPUSplit{NAPINs: 300}}, {PPS: 2, CPU: &CPUSplit{NAPINs: 250}}})
	if len(r.CPURuns) != 2 || r.CPURuns[0].NAPINs != 300 || r.CPURuns[1].NAPINs != 250 {
		t.Errorf("runs' splits %+v, want 300 and 250 in run order", r.CPURuns)
	}
	if r = Summarize("x", Generator, []Sample{{PPS: 1}}); r.CPU != nil {
		t.Errorf("a row without cpu splits has one: %+v", r.CPU)
	}
	r = Summarize("x", Generator, nil)
	if r.PPSMedian != 0 || len(r.Runs) != 0 || r.Runs == nil {
		t.Errorf("no samples: %+v (runs must encode as [], not null)", r)
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := fakeReport().WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Log("\n" + out)
	// The rate table's line of each row, and the CPU table's after it.
	lines, cpu := map[string]string{}, map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			if _, ok := lines[f[0]]; ok {
				cpu[f[0]] = l
			} else {
				lines[f[0]] = l
			}
		}
	}
	// Ratios pair runs by round: xdp-drop/stack is 4, 10 and 3 in the
	// three rounds, median 4 (the ratio of the medians would say 5);
	// engine-3 ran in rounds 1 and 2 only: 2.5 and 4 over stack, 0.625 and
	// 0.4 over xdp-drop, lower middles 2.5 and 0.4.
	for name, want := range map[string][]string{
		"xdp-drop": {"5.000", "4.000", "6.000", "4.00x", "1.00x"},
		"stack":    {"1.000", "0.500", "2.000", "1.00x", "0.25x"},
		"engine-3": {"2.000", "2.500", " 7 ", "2.50x", "0.40x"},
		"asavie":   {"failed"},
		"afxdp":    {"1.500", "1.50x"},
		"trafgen":  {"1.000", " 10 ", "1.00x"},
	} {
		l, ok := lines[name]
		if !ok {
			t.Errorf("no line for %s", name)
			continue
		}
		for _, w := range want {
			if !strings.Contains(l, w) {
				t.Errorf("%s line %q lacks %q", name, l, w)
			}
		}
	}
	// The CPU table lists the rows with a split, medians per part, "-"
	// for a part that took nothing.
	for name, want := range map[string][]string{
		"engine-3": {" 300 ", " 70.0 ", " - ", " 3.0%"},
		"stack":    {" 1200 ", " - ", " 0.0%"},
	} {
		for _, w := range want {
			if !strings.Contains(cpu[name], w) {
				t.Errorf("%s cpu line %q lacks %q", name, cpu[name], w)
			}
		}
	}
	if _, ok := cpu["xdp-drop"]; ok || !strings.Contains(out, "receive CPU, ns a frame") {
		t.Errorf("cpu table: %v, want the rows engine-3 and stack (only) under its heading", cpu)
	}
	if !strings.Contains(out, "asavie failed: setup: boom; second line") {
		t.Errorf("failed row's error not listed")
	}
	if !strings.Contains(out, "load 1.00 0.50 0.25 -> 2.00 1.00 0.50") {
		t.Errorf("machine line missing")
	}
	if strings.Index(out, "generator") < strings.Index(out, "engine-3") {
		t.Errorf("generator section must follow the receiver rows")
	}
}

func TestWriteTableWithoutBaselines(t *testing.T) {
	rep := &Report{Runs: 1, Rows: []Row{Summarize("engine-1", Receiver, []Sample{{PPS: 1e6}})}}
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(strings.Split(b.String(), "\n")[1]); len(f) != 8 || f[5] != "-" || f[6] != "-" || f[7] != "-" {
		t.Errorf("ratios without stack, asavie and xdp-drop rows must be '-': %q", f)
	}
}

func TestRoundRatiosPairByRound(t *testing.T) {
	// a failed its round 2: its runs pair with b's rounds 1 and 3, not
	// with b's first two runs.
	a := Summarize("a", Receiver, []Sample{{PPS: 10, Round: 1}, {PPS: 30, Round: 3}})
	b := Summarize("b", Receiver, []Sample{{PPS: 5, Round: 1}, {PPS: 7, Round: 2}, {PPS: 10, Round: 3}})
	got := RoundRatios(a, b)
	if len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Fatalf("RoundRatios = %v, want [2 3]", got)
	}
	if r, ok := PairedRatio(a, b); !ok || r != 2 {
		t.Errorf("PairedRatio = %v, %v: want the lower middle 2", r, ok)
	}
	if _, ok := PairedRatio(a, Summarize("c", Receiver, []Sample{{PPS: 1, Round: 2}})); ok {
		t.Errorf("rows without a common round have a ratio")
	}
	if r := Summarize("x", Receiver, []Sample{{PPS: 1}, {PPS: 2}}); r.Rounds[0] != 1 || r.Rounds[1] != 2 {
		t.Errorf("samples without a round take their position: %v", r.Rounds)
	}
}

func TestCheckTargets(t *testing.T) {
	runs := func(name string, kind Kind, drops uint64, pps ...float64) Row {
		var s []Sample
		for i, p := range pps {
			s = append(s, Sample{PPS: p, Round: i + 1, Drops: drops})
		}
		return Summarize(name, kind, s)
	}
	rep := &Report{Rows: []Row{
		runs("stack", Receiver, 0, 1, 1, 1),
		runs("asavie", Receiver, 0, 4, 3, 5),
		// Its median (4) equals asavie's, but it is behind in two of three
		// rounds: paired, the target is not met.
		runs("lanad-3", Receiver, 0, 4, 2.9, 4.9),
		runs("lanad-swap", Receiver, 1, 3.9, 2.8, 4.8),
		runs("xdp-live", Generator, 0, 11, 9, 12),
		runs("trafgen", Generator, 0, 1, 1, 1),
	}}
	got := map[string]TargetResult{}
	for _, r := range CheckTargets(rep, Targets("lanad")) {
		got[r.Name] = r
	}
	want := map[string]struct {
		met       bool
		roundsMet int
	}{
		"xdp-live >= 10x trafgen":     {true, 2},
		"lanad-3 >= 1x stack":         {true, 3},
		"lanad-3 >= 1x asavie":        {false, 1},
		"lanad-3 drops 0":             {true, 3},
		"lanad-swap >= 0.95x lanad-3": {true, 3},
	}
	for name, w := range want {
		r, ok := got[name]
		if !ok {
			t.Errorf("target %q not checked (have %v)", name, got)
			continue
		}
		if r.Met != w.met || r.RoundsMet != w.roundsMet || r.Rounds != 3 {
			t.Errorf("%s: %+v, want met %v in %d of 3 rounds", name, r, w.met, w.roundsMet)
		}
	}
	if _, ok := got["afxdp >= 1.5x trafgen"]; ok {
		t.Errorf("the afxdp target was checked without an afxdp row")
	}
	if len(got) != len(want) {
		t.Errorf("%d targets checked, want %d: %v", len(got), len(want), got)
	}
	rep.Rows[3] = runs("lanad-swap", Receiver, 0, 3.9, 2.8, 4.8)
	rep.Rows[2] = runs("lanad-3", Receiver, 2, 4, 2.9, 4.9)
	for _, r := range CheckTargets(rep, Targets("lanad")) {
		if r.Name == "lanad-3 drops 0" && (r.Met || r.Got != 6) {
			t.Errorf("drops target with 6 dropped: %+v", r)
		}
	}

	rep.Targets = CheckTargets(rep, Targets("lanad"))
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(b.String(), "\n") {
		lines[strings.Join(strings.Fields(l), " ")] = true
	}
	for _, line := range []string{"lanad-3 >= 1x asavie 0.98x, met in 1 of 3 rounds NOT MET", "lanad-3 drops 0 6 dropped in 3 run(s) NOT MET"} {
		if !lines[line] {
			t.Errorf("table lacks %q:\n%s", line, b.String())
		}
	}
}

// TestCheckTargetsInRun checks the swap target on a row whose runs
// alternate phases: each run is compared with its own still phases, not
// with the lanad-3 row, and a row without phases falls back to lanad-3's
// rounds.
func TestCheckTargetsInRun(t *testing.T) {
	swap := Summarize("lanad-swap", Receiver, []Sample{
		{PPS: 2.0, StillPPS: 2.05, Round: 1}, // 0.976
		{PPS: 3.0, StillPPS: 3.3, Round: 2},  // 0.909
		{PPS: 4.0, StillPPS: 4.1, Round: 3},  // 0.976
	})
	if swap.StillMedian != 3.3 || len(swap.StillRuns) != 3 {
		t.Fatalf("still phases not summarised: %+v", swap)
	}
	// lanad-3's own rows are far faster: against them, the target fails.
	three := Summarize("lanad-3", Receiver, []Sample{{PPS: 5, Round: 1}, {PPS: 5, Round: 2}, {PPS: 5, Round: 3}})
	rep := &Report{Rows: []Row{three, swap}}
	var got *TargetResult
	for _, r := range CheckTargets(rep, Targets("lanad")) {
		if r.Name == "lanad-swap >= 0.95x lanad-3" {
			got = &r
		}
	}
	if got == nil || !got.InRun || !got.Met || got.RoundsMet != 2 || got.Rounds != 3 || got.Got < 0.975 || got.Got > 0.976 {
		t.Fatalf("in-run target: %+v, want met in 2 of 3 runs at 0.976x against the still phases", got)
	}
	if s := got.got(); !strings.Contains(s, "met in 2 of 3 runs (each against its phases without swaps)") {
		t.Errorf("in-run target reads %q", s)
	}
	// Without still phases (a report of an older lab), lanad-3's rounds.
	rep.Rows[1] = Summarize("lanad-swap", Receiver, []Sample{{PPS: 2, Round: 1}, {PPS: 3, Round: 2}, {PPS: 4, Round: 3}})
	for _, r := range CheckTargets(rep, Targets("lanad")) {
		if r.Name == "lanad-swap >= 0.95x lanad-3" && (r.InRun || r.Met || r.Got != 0.6) {
			t.Errorf("fallback to lanad-3's rounds: %+v, want 0.6x, not met", r)
		}
	}
	// Some runs with phases and some without: no in-run ratios.
	mixed := Summarize("x", Receiver, []Sample{{PPS: 2, StillPPS: 2}, {PPS: 3}})
	if mixed.StillRuns != nil || StillRatios(mixed) != nil {
		t.Errorf("mixed runs kept still phases: %+v", mixed)
	}
}

func TestWriteJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lab.json")
	if err := fakeReport().WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Runs int `json:"runs"`
		Rows []map[string]any
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.Runs != 3 || len(got.Rows) != 6 {
		t.Fatalf("runs %d, %d rows", got.Runs, len(got.Rows))
	}
	r := got.Rows[2]
	if r["name"] != "engine-3" || r["pps_median"] != 2e6 || r["pps_min"] != 2e6 || r["pps_max"] != 2.5e6 || r["drops"] != 7.0 {
		t.Errorf("row 2: %v", r)
	}
	if got.Rows[3]["error"] == nil {
		t.Errorf("failed row without its error: %v", got.Rows[3])
	}
}

func TestWriteChart(t *testing.T) {
	dir := t.TempDir()
	rep := fakeReport()
	pngPath := filepath.Join(dir, "lab.png")
	if err := rep.WriteChart(pngPath); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 200 || b.Dy() < 200 {
		t.Errorf("image %v too small", b)
	}
	svgPath := filepath.Join(dir, "lab.SVG")
	if err := rep.WriteChart(svgPath); err != nil {
		t.Fatal(err)
	}
	svg, _ := os.ReadFile(svgPath)
	for _, name := range []string{"xdp-drop", "engine-3", "trafgen"} {
		if !bytes.Contains(svg, []byte(name)) {
			t.Errorf("SVG has no label %s", name)
		}
	}
	if bytes.Contains(svg, []byte(">asavie<")) {
		t.Errorf("a row without runs was drawn")
	}
	if err := rep.WriteChart(filepath.Join(dir, "lab.gif")); !errors.Is(err, ErrChartFormat) {
		t.Errorf("gif: err %v, want ErrChartFormat", err)
	}
	if err := (&Report{}).WriteChart(filepath.Join(dir, "empty.png")); err == nil {
		t.Errorf("empty report drew a chart")
	}
}
