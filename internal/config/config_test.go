package config

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	_ "github.com/lana-net/lana/blocks"
	"github.com/lana-net/lana/engine"
)

func TestParseConfigsDir(t *testing.T) {
	for _, name := range []string{"paper.yaml", "demux.yaml"} {
		f, err := Load("../../configs/" + name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(f.Stack.Blocks) == 0 || f.Stack.Hook != "e0" {
			t.Fatalf("%s: stack %+v", name, f.Stack)
		}
	}
	f, err := Load("../../configs/paper.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Stack.Blocks[0].Options["promisc"]; got != "true" {
		t.Fatalf("promisc = %q, want the literal true", got)
	}
	d, err := Load("../../configs/demux.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Stack.Blocks[0].Options["type.port1"]; got != "0xAC01" {
		t.Fatalf("type.port1 = %q, want the literal 0xAC01 (not a decoded integer)", got)
	}
	if f.Poll != PollAdaptive || !f.Interfaces[0].Queues.All || f.Interfaces[0].Steering != "lana" {
		t.Fatalf("defaults/values: %+v", f)
	}
}

// TestErrorsHaveLines checks that each kind of mistake is reported on the
// line that holds it, with the rule.
func TestErrorsHaveLines(t *testing.T) {
	base := `interfaces:
  - name: veth0
    queues: [0]
stack:
  blocks:
    - name: e0
      type: eth
    - name: c
      type: counter
  bindings:
    - {below: e0, above: c}
  hook: e0
`
	cases := []struct {
		name, from, to, want string
	}{
		{"unknown type", "type: counter", "type: bogus", "line 8: add c: block type \"bogus\": unknown block type"},
		{"bad option", "type: eth\n", "type: eth\n      options: {promisc: maybe}\n", "line 6: add e0: configure e0 (eth): option promisc"},
		{"unknown field", "queues: [0]", "queues: [0]\n    colour: red", "colour"},
		{"bad queues", "queues: [0]", "queues: some", "\"all\""},
		{"bad poll", "stack:", "poll: sometimes\nstack:", "line 4: poll \"sometimes\": must be busy, wakeup or adaptive"},
		{"dangling bind", "above: c}", "above: nope}", "line 11: "},
		{"cycle", "  hook: e0", "    - {below: c, above: e0}\n  hook: e0", "line 12: "},
		{"hook unknown", "hook: e0", "hook: x1", "line 12: "},
		{"steering", "queues: [0]", "queues: [0]\n    steering: 0x0100", "line 4: steering"},
		{"syntax", "  hook: e0", "  hook: [e0", "["},
		{"control cpu negative", "stack:", "control: {cpus: [-1]}\nstack:", "line 4: cpu -1: must be in [0, 4096)"},
		{"control cpu twice", "stack:", "control:\n  cpus: [1, 1]\nstack:", "line 5: cpu 1: listed twice"},
		{"frame_size", "stack:", "frame_size: 3000\nstack:", "line 4: frame_size 3000: must be 2048 or 4096"},
		{"fill_target above frames", "stack:", "frames: 512\nfill_target: 1024\nstack:", "line 5: fill_target 1024: must be in [64, frames (512)]"},
		{"fill_target small", "stack:", "fill_target: 8\nstack:", "line 4: fill_target 8: must be in [64, frames (4096)]"},
		{"relative pace_dir", "stack:", "bench: {pace_dir: lana/pace}\nstack:", "line 4: pace_dir \"lana/pace\": must be an absolute path"},
	}
	if _, err := Parse([]byte(base)); err != nil {
		t.Fatalf("base: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := strings.Replace(base, c.from, c.to, 1)
			if text == base {
				t.Fatal("replacement did not apply")
			}
			_, err := Parse([]byte(text))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q: want ErrInvalid containing %q", err, c.want)
			}
		})
	}
}

func TestLoadPrefixesPath(t *testing.T) {
	p := t.TempDir() + "/bad.yaml"
	os.WriteFile(p, []byte("interfaces: []\nstack: {blocks: []}\n"), 0o600)
	_, err := Load(p)
	if err == nil || !strings.HasPrefix(err.Error(), p+": line 1: interfaces") {
		t.Fatalf("err = %v", err)
	}
}

func build(t *testing.T, s Stack) *engine.Graph {
	t.Helper()
	g := engine.NewGraph(1)
	for _, v := range s.Verbs() {
		if err := g.Apply(v); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
	}
	return g
}

func TestSnapshotRoundTrip(t *testing.T) {
	g := engine.NewGraph(1)
	for _, l := range []string{"add e0 eth type.v=0xAC01", "add a dummy", "add b counter", "add v counter",
		"add x dummy", "bind e0 a", "bind a b", "bind e0:v v", "subscribe x b", "add y dummy", "bind x y", "unbind x y", "hook e0"} {
		v, _ := engine.ParseVerb(l)
		if err := g.Apply(v); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
	}
	s := Snapshot(g)
	// Only x->b is explicit; bindings' own subscriptions are implied.
	if !reflect.DeepEqual(s.Subscriptions, []Subscription{{"x", "b"}}) {
		t.Fatalf("subscriptions %+v: want only x->b", s.Subscriptions)
	}
	g2 := build(t, s)
	if s2 := Snapshot(g2); !reflect.DeepEqual(s, s2) {
		t.Fatalf("round trip:\n%+v\n%+v", s, s2)
	}
	f := &File{Interfaces: []Interface{{Name: "x"}}, Stack: s}
	f.defaults()
	out, err := Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, f) {
		t.Fatalf("marshal round trip:\n%+v\n%+v\n%s", back, f, out)
	}
}

func TestDiff(t *testing.T) {
	cur := Stack{
		Blocks: []Block{{Name: "e0", Type: "eth"}, {Name: "a", Type: "dummy"}, {Name: "c", Type: "counter"},
			{Name: "old", Type: "dummy"}, {Name: "t", Type: "tee"}},
		Bindings:      []Binding{{"e0", "a"}, {"a", "c"}, {"c", "old"}},
		Subscriptions: []Subscription{{"t", "c"}},
		Hook:          "e0",
	}
	want := Stack{
		Blocks: []Block{{Name: "e0", Type: "eth", Options: Options{"promisc": "true"}}, {Name: "a", Type: "counter"},
			{Name: "c", Type: "counter"}, {Name: "t", Type: "tee"}, {Name: "n", Type: "dummy"}},
		Bindings:      []Binding{{"e0", "a"}, {"a", "c"}, {"t:clone", "n"}},
		Subscriptions: []Subscription{{"n", "e0"}},
		Hook:          "e0",
	}
	g := build(t, cur)
	verbs := Diff(Snapshot(g), want)
	if err := applyAll(g, verbs); err != nil {
		t.Fatalf("diff %v: %v", verbs, err)
	}
	if got, w := Snapshot(g), Snapshot(build(t, want)); !reflect.DeepEqual(got, w) {
		t.Fatalf("after diff %v:\n got %+v\nwant %+v", verbs, got, w)
	}
	// c kept its name and type and options: no verb touches it but its bindings.
	for _, v := range verbs {
		if (v.Op == "rm" || v.Op == "add" || v.Op == "replace") && v.Args[0] == "c" {
			t.Fatalf("diff recreated c: %v", verbs)
		}
	}
	if d := Diff(Snapshot(g), want); len(d) != 0 {
		t.Fatalf("diff of equal stacks: %v", d)
	}
}

func applyAll(g *engine.Graph, vs []engine.Verb) error {
	for _, v := range vs {
		if err := g.Apply(v); err != nil {
			return err
		}
	}
	return nil
}

func TestSameHost(t *testing.T) {
	a, _ := Parse([]byte("interfaces: [{name: x}]\nstack: {blocks: [{name: d, type: dummy}]}\n"))
	b, _ := Parse([]byte("interfaces: [{name: x}]\nstack: {blocks: []}\n"))
	c, _ := Parse([]byte("interfaces: [{name: x, queues: [1]}]\nstack: {blocks: []}\n"))
	if err := SameHost(a, b); err != nil {
		t.Fatal(err)
	}
	if err := SameHost(a, c); err == nil {
		t.Fatal("queue change not noticed")
	}
}

// TestBenchRoundTrip: the bench section survives save (Marshal) and is part
// of the host half (a reload cannot add it).
func TestBenchRoundTrip(t *testing.T) {
	text := "interfaces: [{name: x, queues: [0]}]\nbench: {pace_dir: /sys/fs/bpf/lana}\nstack: {blocks: []}\n"
	f, err := Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if f.Bench == nil || f.Bench.PaceDir != "/sys/fs/bpf/lana" {
		t.Fatalf("bench: %+v", f.Bench)
	}
	out, err := Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, f) {
		t.Fatalf("round trip:\n%+v\n%+v\n%s", back, f, out)
	}
	plain, _ := Parse([]byte("interfaces: [{name: x, queues: [0]}]\nstack: {blocks: []}\n"))
	if err := SameHost(plain, f); err == nil {
		t.Fatal("adding bench not seen as a host change")
	}
}
