package engine_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lana-net/lana/engine"
)

// ear records the events it receives.
type ear struct {
	mu  sync.Mutex
	got []string
	n   uint64
}

func (e *ear) Configure(opts engine.Options) error {
	p := engine.NewOptionParser(opts)
	e.n = p.Uint("n", 0, 0, 9)
	return p.Err()
}
func (e *ear) Info() engine.Info        { return engine.Info{} }
func (e *ear) Start(engine.Env) error   { return nil }
func (e *ear) Process(v *engine.Vector) {}
func (e *ear) Close() error             { return nil }
func (e *ear) HandleEvent(ev engine.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, fmt.Sprintf("%s %s %s %s=%s", ev.Kind, ev.Block, ev.Peer, ev.Key, ev.Value))
}
func (e *ear) events() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.got, "; ")
}

func init() { engine.Register("test-ear", func() engine.Block { return &ear{} }) }

func TestEvents(t *testing.T) {
	r := newRig(t, 64)
	var mu sync.Mutex
	var watched []string
	cancel := r.e.Watch(func(ev engine.Event) {
		mu.Lock()
		watched = append(watched, ev.Kind.String()+" "+ev.Block)
		mu.Unlock()
	})
	defer cancel()
	if err := r.e.Exec("add a test-ear", "add b test-ear", "add c test-ear", "bind a b", "subscribe b c"); err != nil {
		t.Fatal(err)
	}
	inst := func(n string) *ear { b, _ := r.e.Instance(n); return b.(*ear) }
	a, c := inst("a"), inst("c")
	if err := r.e.Exec("set b n=3"); err != nil {
		t.Fatal(err)
	}
	if err := r.e.Exec("unbind a b", "rm b"); err != nil {
		t.Fatal(err)
	}
	want := map[*ear]string{
		a: "bind a b =; option-set b  n=3; unbind a b =",
		c: "option-set b  n=3; unbind a b =; going-down b  =",
	}
	deadline := time.Now().Add(5 * time.Second)
	for blk, w := range want {
		for blk.events() != w && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if got := blk.events(); got != w {
			t.Errorf("events %q, want %q", got, w)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(watched, ","); got != "bind a,option-set b,unbind a,going-down b" {
		t.Errorf("watcher saw %q", got)
	}
}

// TestEventsWithoutWatchers: with no watcher registered (the bus then only
// wakes for deliveries to blocks), subscribed blocks still hear every event,
// before and after a watcher came and went.
func TestEventsWithoutWatchers(t *testing.T) {
	r := newRig(t, 64)
	if err := r.e.Exec("add a test-ear", "add b test-ear", "add c test-ear", "subscribe b c"); err != nil {
		t.Fatal(err)
	}
	b, _ := r.e.Instance("c")
	c := b.(*ear)
	if err := r.e.Exec("set b n=1"); err != nil {
		t.Fatal(err)
	}
	cancel := r.e.Watch(func(engine.Event) {})
	cancel()
	if err := r.e.Exec("add x dummy"); err != nil { // an event nobody hears
		t.Fatal(err)
	}
	if err := r.e.Exec("set b n=2"); err != nil {
		t.Fatal(err)
	}
	want := "option-set b  n=1; option-set b  n=2"
	for deadline := time.Now().Add(5 * time.Second); c.events() != want && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if got := c.events(); got != want {
		t.Fatalf("c heard %q, want %q", got, want)
	}
}
