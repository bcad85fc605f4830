package lab

import (
	"slices"
	"testing"
)

// TestPairedOrder: a round measures the two rows of every close target
// back to back, keeps every default row once, and puts rows it does not
// know last in their own order.
func TestPairedOrder(t *testing.T) {
	for _, backend := range []LanadBackend{Process{}, InProcess{}} {
		cfg := Config{Lanad: backend}
		cfg.defaults()
		if !cfg.defaulted {
			t.Fatal("empty Rows did not take the defaults")
		}
		rows, err := cfg.resolve()
		if err != nil {
			t.Fatal(err)
		}
		order := pairedOrder(rows, backend.Label())
		var names []string
		for _, k := range order {
			names = append(names, rows[k].name)
		}
		if got, want := slices.Sorted(slices.Values(names)), slices.Sorted(slices.Values(DefaultRows(backend))); !slices.Equal(got, want) {
			t.Fatalf("%s: measured %v, want each of %v once", backend.Label(), names, want)
		}
		for _, tg := range Targets(backend.Label()) {
			if tg.Base == "" || tg.Base == StackRow {
				continue
			}
			i, j := slices.Index(names, tg.Row), slices.Index(names, tg.Base)
			if i < 0 || j < 0 || i-j != 1 && j-i != 1 {
				t.Errorf("%s: %s is measured at %d, %s at %d: want them next to each other (%v)", backend.Label(), tg.Row, i, tg.Base, j, names)
			}
		}
	}
	rows := []row{{name: "lanad-7"}, {name: "xdp-live"}, {name: "lanad-5"}, {name: "stack"}}
	if got, want := pairedOrder(rows, "lanad"), []int{3, 1, 0, 2}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}
