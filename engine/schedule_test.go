package engine_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lana-net/lana/engine"
)

// gates collects, through a Schedule's accept function, the gate instances
// that each prepared graph serves under name.
func gates(t *testing.T, name string, into *[]*gate) func(*engine.Graph) error {
	return func(g *engine.Graph) error {
		b, err := g.Instance(name)
		if err != nil {
			t.Errorf("prepared graph: %v", err)
			return err
		}
		*into = append(*into, b.(*gate))
		return nil
	}
}

// swapTxns are n transactions that each replace gate g with a fresh one,
// which takes g's name.
func swapTxns(t *testing.T, n int) [][]engine.Verb {
	var txns [][]engine.Verb
	for i := range n {
		h := "h" + string("ab"[i%2])
		txns = append(txns, verbs(t, "add "+h+" test-gate", "replace-drop g "+h))
	}
	return txns
}

// TestScheduleWorkerPublishes schedules three swaps of a gate block: none
// is published before its time, the worker publishes the first between two
// vectors once it is due (within DueEvery rounds), RunDue publishes the two that fell due while the
// worker did not run, and every instance the chain retired is closed once
// the worker is past it.
func TestScheduleWorkerPublishes(t *testing.T) {
	r := newRig(t, 64)
	if err := r.e.Exec("add g test-gate", "hook g"); err != nil {
		t.Fatal(err)
	}
	first := instance(t, r.e, "g")
	start := time.Now()
	at := []time.Time{start.Add(50 * time.Millisecond), start.Add(100 * time.Millisecond), start.Add(150 * time.Millisecond)}
	var made []*gate
	n, err := r.e.Schedule(swapTxns(t, 3), at, gates(t, "g", &made))
	if n != 3 || err != nil || len(made) != 3 {
		t.Fatalf("Schedule: %d, %v, %d graphs seen; want 3, nil, 3", n, err, len(made))
	}
	for range engine.DueEvery {
		r.w.RunOnce()
	}
	if g := instance(t, r.e, "g"); g != first && time.Since(start) < 50*time.Millisecond {
		t.Fatal("a transaction was published before its time")
	}
	time.Sleep(time.Until(at[0]))
	for range engine.DueEvery { // the worker looks at the clock once in as many rounds
		r.w.RunOnce()
	}
	if g := instance(t, r.e, "g"); g != made[0] && time.Since(start) < 100*time.Millisecond {
		t.Fatal("the worker did not publish the first transaction once it was due")
	}
	if st := r.e.RunDue(); st.Published < 1 || st.Published+st.Left != 3 {
		t.Fatalf("state after the worker's publication: %+v", st)
	}
	time.Sleep(time.Until(at[2]))
	st := r.e.RunDue()
	if st.Published != 3 || st.Left != 0 || st.Dropped != 0 || len(st.Late) != 3 {
		t.Fatalf("RunDue after the chain's end: %+v, want 3 published", st)
	}
	for i, l := range st.Late {
		if l < 0 {
			t.Errorf("transaction %d published %v before its time", i+1, -l)
		}
	}
	if g := instance(t, r.e, "g"); g != made[2] {
		t.Fatal("the last transaction's gate is not the live one")
	}
	for i, g := range append([]*gate{first}, made[:2]...) {
		if !g.closed.Load() {
			t.Errorf("retired gate %d is still open", i)
		}
	}
	if made[2].closed.Load() {
		t.Error("the live gate was closed")
	}
	if err := r.e.Sync(); err != nil {
		t.Fatal(err)
	}
}

// TestScheduleDroppedByApply: a transaction applied from elsewhere publishes
// what the chain had due, drops the rest and closes the blocks the dropped
// transactions made; Schedule works again after.
func TestScheduleDroppedByApply(t *testing.T) {
	r := newRig(t, 64)
	if err := r.e.Exec("add g test-gate", "hook g"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var made []*gate
	if _, err := r.e.Schedule(swapTxns(t, 3), []time.Time{now, now.Add(time.Hour), now.Add(2 * time.Hour)}, gates(t, "g", &made)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.e.Schedule(swapTxns(t, 1), []time.Time{now}, nil); err == nil || !errors.Is(err, engine.ErrConfig) {
		t.Fatalf("a second Schedule while the first has transactions left: %v, want ErrConfig", err)
	}
	if err := r.e.Exec("add x dummy"); err != nil {
		t.Fatal(err)
	}
	if g := instance(t, r.e, "g"); g != made[0] {
		t.Error("the transaction that was due did not go before Apply's")
	}
	if !made[1].closed.Load() || !made[2].closed.Load() {
		t.Error("the dropped transactions' gates are still open")
	}
	st := r.e.RunDue()
	if st.Published != 1 || st.Dropped != 2 || st.Left != 0 {
		t.Fatalf("state: %+v, want 1 published and 2 dropped", st)
	}
	r.e.View(func(g *engine.Graph) {
		if !slices.Contains(g.Names(), "x") {
			t.Error("Apply's transaction is missing")
		}
	})
	if n, err := r.e.Schedule(swapTxns(t, 1), []time.Time{now}, nil); n != 1 || err != nil {
		t.Fatalf("Schedule after the chain was dropped: %d, %v", n, err)
	}
	if st := r.e.Unschedule(); st.Published != 1 || st.Dropped != 0 {
		t.Fatalf("Unschedule of a due transaction: %+v, want it published", st)
	}
}

// TestScheduleRefusals: a chain ends before the first transaction refused,
// by its verbs or by accept, whose error names it; the blocks it made are
// closed; a refused first transaction schedules nothing; and Close closes
// what a chain made and never published.
func TestScheduleRefusals(t *testing.T) {
	r := newRig(t, 64)
	if err := r.e.Exec("add g test-gate", "hook g"); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	txns := append(swapTxns(t, 1), verbs(t, "replace nosuch g"))
	txns = append(txns, swapTxns(t, 1)...)
	n, err := r.e.Schedule(txns[:2], []time.Time{later, later}, nil)
	if n != 1 || err == nil || !strings.Contains(err.Error(), "transaction 2") {
		t.Fatalf("a bad second transaction: %d, %v; want 1 and its error", n, err)
	}
	r.e.Unschedule()

	var made []*gate
	calls := 0
	refuse := func(g *engine.Graph) error {
		if calls++; calls == 2 {
			b, _ := g.Instance("g")
			made = append(made, b.(*gate))
			return errors.New("not this one")
		}
		return nil
	}
	n, err = r.e.Schedule(swapTxns(t, 3), []time.Time{later, later, later}, refuse)
	if n != 1 || !errors.Is(err, engine.ErrNotSchedulable) || !strings.Contains(err.Error(), "not this one") {
		t.Fatalf("accept refusing the second: %d, %v; want 1 and ErrNotSchedulable", n, err)
	}
	if !made[0].closed.Load() {
		t.Error("the refused graph's gate is still open")
	}
	r.e.Unschedule()

	if n, err := r.e.Schedule(txns[1:2], []time.Time{later}, nil); n != 0 || err == nil {
		t.Fatalf("a bad only transaction: %d, %v; want nothing scheduled", n, err)
	}
	if n, err := r.e.Schedule(swapTxns(t, 2), []time.Time{later, later.Add(-time.Second)}, nil); n != 1 || !errors.Is(err, engine.ErrConfig) {
		t.Fatalf("times going back: %d, %v; want the chain cut before", n, err)
	}
	r.e.Unschedule()

	made = nil
	if _, err := r.e.Schedule(swapTxns(t, 2), []time.Time{later, later}, gates(t, "g", &made)); err != nil {
		t.Fatal(err)
	}
	r.e.Close()
	for i, g := range made {
		if !g.closed.Load() {
			t.Errorf("Close left the gate of scheduled transaction %d open", i+1)
		}
	}
}
