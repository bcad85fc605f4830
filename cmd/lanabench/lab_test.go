package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lana-net/lana/internal/testbed"
)

// TestLabTiny runs the lab end to end with tiny windows on two receiver rows
// and one generator row, two runs each, and checks that the runs were
// interleaved (every row's first run before any second run), and the JSON
// and the chart it writes.
func TestLabTiny(t *testing.T) {
	testbed.RequirePrivileges(t)
	dir := t.TempDir()
	jsonPath, chartPath := filepath.Join(dir, "lab.json"), filepath.Join(dir, "lab.svg")
	var out, errOut bytes.Buffer
	err := runLab(context.Background(), labFlags{
		runs: 2, window: 200 * time.Millisecond, warmup: 100 * time.Millisecond,
		rows: []string{"xdp-drop", "asavie", "afxdp"}, jsonPath: jsonPath, chartPath: chartPath,
		genCPU: 0, rxCPU: 1,
	}, &out, &errOut)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Runs int
		Rows []struct {
			Name      string
			Kind      string
			PPSMedian float64 `json:"pps_median"`
			PPSMin    float64 `json:"pps_min"`
			PPSMax    float64 `json:"pps_max"`
			Drops     *uint64
			Runs      []float64 `json:"runs_pps"`
			Error     string
		}
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 3 {
		t.Fatalf("%d rows, want 3: %s", len(rep.Rows), raw)
	}
	for i, want := range []string{"xdp-drop", "asavie", "afxdp"} {
		r := rep.Rows[i]
		if r.Name != want || r.Error != "" || len(r.Runs) != 2 || r.Drops == nil {
			t.Errorf("row %d: %+v, want %s with two runs", i, r, want)
			continue
		}
		// 10,000 frames/s is far below anything that works on veth.
		if r.PPSMin < 1e4 || r.PPSMin > r.PPSMedian || r.PPSMedian > r.PPSMax {
			t.Errorf("%s: median %v min %v max %v", r.Name, r.PPSMedian, r.PPSMin, r.PPSMax)
		}
	}
	if rep.Rows[0].Kind != "receiver" || rep.Rows[2].Kind != "generator" {
		t.Errorf("kinds: %s, %s", rep.Rows[0].Kind, rep.Rows[2].Kind)
	}
	if svg, err := os.ReadFile(chartPath); err != nil || !bytes.Contains(svg, []byte("asavie")) {
		t.Errorf("chart: %v", err)
	}
	if !bytes.Contains(out.Bytes(), []byte("x xdp-drop")) {
		t.Errorf("no table printed")
	}
	progress := out.String() + errOut.String()
	last1, first2 := strings.LastIndex(progress, "afxdp run 1/2"), strings.Index(progress, "xdp-drop run 2/2")
	if last1 < 0 || first2 < 0 || last1 > first2 {
		t.Errorf("runs not interleaved (afxdp's run 1 at %d, xdp-drop's run 2 at %d):\n%s", last1, first2, progress)
	}
}

// TestLabLanadProcess runs lanad-3, lanad-swap and lanad-swap-ctl through
// real lanad processes (built from this tree), and engine-3 in the lab's
// process beside them, with tiny windows: each row must take frames with no
// drop, the swap rows swap the graph (lanad replaying the changes in half
// of the swap row's phases, lanactl batch sending them), the targets on these rows are checked, and nothing is left
// behind: no lanad process and no pace pin; a receiver's Close also fails
// the row when lanad left an XDP program attached or did not exit cleanly
// on SIGTERM.
func TestLabLanadProcess(t *testing.T) {
	testbed.RequirePrivileges(t)
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "lab.json")
	var out, errOut bytes.Buffer
	err := runLab(context.Background(), labFlags{
		runs: 1, window: 300 * time.Millisecond, warmup: 100 * time.Millisecond,
		rows: []string{"lanad-3", "lanad-swap", "lanad-swap-ctl", "engine-3"}, jsonPath: jsonPath, chartPath: "",
		genCPU: 0, rxCPU: 1, lanad: "process",
	}, &out, &errOut)
	t.Log("\n" + out.String() + errOut.String())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Rows []struct {
			Name      string
			PPSMedian float64 `json:"pps_median"`
			Drops     *uint64
			Error     string
			Note      string
			Rounds    []int     `json:"runs_round"`
			StillRuns []float64 `json:"still_runs_pps"`
			CPU       *struct {
				NAPI     float64 `json:"napi_ns_per_frame"`
				Receiver float64 `json:"receiver_ns_per_frame"`
				Other    float64 `json:"other_ns_per_frame"`
				Idle     float64 `json:"idle"`
			}
		}
		Targets []struct {
			Name   string
			Met    bool
			Rounds int
			InRun  bool `json:"in_run"`
		}
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 4 {
		t.Fatalf("%d rows, want 4: %s", len(rep.Rows), raw)
	}
	for i, want := range []string{"lanad-3", "lanad-swap", "lanad-swap-ctl", "engine-3"} {
		r := rep.Rows[i]
		if r.Name != want || r.Error != "" || r.Drops == nil {
			t.Errorf("row %d: %+v, want %s without error", i, r, want)
			continue
		}
		if r.PPSMedian < 1e4 || *r.Drops != 0 {
			t.Errorf("%s: %v pps, %d drops; want frames taken and no fill-ring-empty (or other) drop", r.Name, r.PPSMedian, *r.Drops)
		}
		// The receive CPU's time is split: the worker's thread was found
		// (lanad's in its process, the engine's in the lab's), and only
		// lanad has other threads on the list.
		if c := r.CPU; c == nil || c.NAPI <= 0 || c.Receiver <= 0 || (c.Other > 0) != strings.HasPrefix(want, "lanad") ||
			c.Idle < 0 || c.Idle > 1 {
			t.Errorf("%s: cpu split %+v; want NAPI and receive loop time, other threads for lanad only", r.Name, c)
		}
	}
	for _, c := range []struct {
		row      int
		want     string
		min, max int
	}{
		// The swap row runs 600 ms and swaps in 4 phases of 75 ms: 8
		// swaps in each (at 0, 10, ... 70 ms), give or take a late one.
		{1, "by lanad itself (a replay), in 4 of the 8 phases", 26, 33},
		// The swap-ctl row swaps over the whole 300ms window: 30 swaps.
		{2, "each change sent by lanactl batch", 20, 32},
	} {
		n := rep.Rows[c.row].Note
		var swaps int
		if m := regexp.MustCompile(`\((\d+) swaps done`).FindStringSubmatch(n); m != nil {
			swaps, _ = strconv.Atoi(m[1])
		}
		if !strings.Contains(n, c.want) || swaps < c.min || swaps > c.max {
			t.Errorf("%s note %q: want %q and %d to %d swaps done", rep.Rows[c.row].Name, n, c.want, c.min, c.max)
		}
	}
	// The swap row measured lanad-3 without swaps in its other phases.
	if sr := rep.Rows[1].StillRuns; len(sr) != 1 || sr[0] < 1e4 {
		t.Errorf("lanad-swap's still phases: %v, want one run's rate", sr)
	}
	if rep.Rows[2].StillRuns != nil {
		t.Errorf("lanad-swap-ctl has still phases: %v", rep.Rows[2].StillRuns)
	}
	if n := rep.Rows[3].Note; !strings.Contains(n, "in the lab's process") || len(rep.Rows[3].Rounds) != 1 || rep.Rows[3].Rounds[0] != 1 {
		t.Errorf("engine-3 beside the lanad rows: note %q, rounds %v; want the in-process engine in round 1", n, rep.Rows[3].Rounds)
	}
	// Only the targets on these rows are checked: lanad-3's drops and
	// lanad-swap against lanad-3 (its ratio in one short run is noise).
	var targets []string
	for _, tg := range rep.Targets {
		targets = append(targets, tg.Name)
		if tg.Name == "lanad-3 drops 0" && (!tg.Met || tg.Rounds != 1) {
			t.Errorf("target %+v: lanad-3 dropped nothing in its one run", tg)
		}
		if strings.HasPrefix(tg.Name, "lanad-swap") && (!tg.InRun || tg.Rounds != 1) {
			t.Errorf("target %+v: want lanad-swap's one run against its own still phases", tg)
		}
	}
	if strings.Join(targets, ", ") != "lanad-3 drops 0, lanad-swap >= 0.95x lanad-3" {
		t.Errorf("targets checked: %v", targets)
	}
	// Nothing of the lanad runs is left: no process with a lab config, no
	// pace directory of this process in bpffs.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte("lanabench-lanad-")) {
			t.Errorf("a lanad or lanactl of the lab still runs: %s: %q", p, b)
		}
	}
	if left, _ := filepath.Glob(fmt.Sprintf("/sys/fs/bpf/lanabench-%d-*", os.Getpid())); len(left) > 0 {
		t.Errorf("pace directories left: %v", left)
	}
}
