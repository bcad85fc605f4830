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
			Summarize("stack", Receiver, []Sample{{PPS: 1e6}, {PPS: 0.5e6}, {PPS: 2e6}}),
			Summarize("engine-3", Receiver, []Sample{{PPS: 2.5e6, Drops: 3}, {PPS: 2e6, Drops: 4}}),
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
	lines := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			lines[f[0]] = l
		}
	}
	for name, want := range map[string][]string{
		"xdp-drop": {"5.000", "4.000", "6.000", "5.00x", "1.00x"},
		"stack":    {"1.000", "0.500", "2.000", "1.00x", "0.20x"},
		"engine-3": {"2.000", "2.500", " 7 ", "2.00x", "0.40x"},
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
	if f := strings.Fields(strings.Split(b.String(), "\n")[1]); len(f) != 7 || f[5] != "-" || f[6] != "-" {
		t.Errorf("ratios without stack and xdp-drop rows must be '-': %q", f)
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
