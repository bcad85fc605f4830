package engine

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
)

// fwd is a pure-logic test block with configurable outputs.
type fwd struct {
	outs   []string
	closed bool
}

func (f *fwd) Configure(opts Options) error {
	p := NewOptionParser(opts)
	if o := p.String("outs", ""); o != "" {
		f.outs = strings.Split(o, ",")
	}
	p.Uint("n", 1, 1, 10)
	return p.Err()
}
func (f *fwd) Info() Info          { return Info{Outputs: f.outs, Reasons: []string{"r0"}} }
func (f *fwd) Start(Env) error     { return nil }
func (f *fwd) Process(v *Vector)   {}
func (f *fwd) Close() error        { f.closed = true; return nil }
func (f *fwd) TakeState(old Block) {}
func init()                        { Register("itest-fwd", func() Block { return &fwd{} }) }
func mustVerb(t *testing.T, l string) Verb {
	v, err := ParseVerb(l)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func apply(t *testing.T, g *Graph, lines ...string) (*Graph, error) {
	t.Helper()
	var vs []Verb
	for _, l := range lines {
		vs = append(vs, mustVerb(t, l))
	}
	return g.applyAll(vs)
}

func TestGraphCompile(t *testing.T) {
	g, err := apply(t, NewGraph(1),
		"add a itest-fwd outs=x,y", "add b itest-fwd", "add c itest-fwd", "add d itest-fwd",
		"bind a b", "bind a:y c", "bind c d", "hook a")
	if err != nil {
		t.Fatal(err)
	}
	c := compile(g, 7)
	// Sorted names a b c d -> ingress nodes 0 2 4 6, egress 1 3 5 7.
	if c.gen != 7 || c.entry != 0 || len(c.nodes) != 8 {
		t.Fatalf("gen %d entry %d nodes %d", c.gen, c.entry, len(c.nodes))
	}
	want := map[int][]int32{0: {2, -1, 4}, 2: {-1}, 4: {6}, 6: {-1}, 1: {-1}, 3: {1}, 5: {1}, 7: {5}}
	for n, next := range want {
		if got := c.nodes[n].next; len(got) != len(next) || !equal(got, next) {
			t.Errorf("node %d next %v, want %v", n, got, next)
		}
	}
	// Turn-around: ingress of c goes to c's egress neighbour (a's egress);
	// egress of c goes to c's ingress neighbour (d's ingress).
	if c.nodes[4].turn != 1 || c.nodes[5].turn != 6 {
		t.Errorf("turns %d %d, want 1 6", c.nodes[4].turn, c.nodes[5].turn)
	}
	if c.nodes[0].dir != Ingress || c.nodes[1].dir != Egress {
		t.Error("directions")
	}
}

func equal(a, b []int32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGraphRefusals(t *testing.T) {
	base, err := apply(t, NewGraph(1), "add a itest-fwd outs=x", "add b itest-fwd", "add c itest-fwd", "bind a b", "bind b c")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		lines []string
		want  error
		names []string // must all appear in the message
	}{
		{[]string{"bind a c"}, ErrPortTaken, []string{"a", "b"}},
		{[]string{"bind a:x c"}, ErrPortTaken, []string{"c", "b"}},
		{[]string{"bind c a"}, ErrCycle, []string{"a -> b -> c"}},
		{[]string{"add d itest-fwd", "bind c d", "bind d a"}, ErrCycle, []string{"a -> b -> c -> d"}},
		{[]string{"bind a:nope c"}, ErrNoOutput, []string{"nope"}},
		{[]string{"bind a zz"}, ErrNotFound, []string{"zz"}},
		{[]string{"bind a a"}, ErrCycle, nil},
		{[]string{"rm b"}, ErrBound, []string{"b"}},
		{[]string{"add b itest-fwd"}, ErrExists, nil},
		{[]string{"add e nosuchtype"}, ErrUnknownType, []string{"nosuchtype"}},
		{[]string{"add this-name-is-too-long dummy"}, ErrBadName, nil},
		{[]string{"add e itest-fwd n=99 bogus=1 noequals"}, ErrBadOption, []string{"noequals"}},
		{[]string{"add e itest-fwd n=99 bogus=1"}, ErrBadOption, []string{"n=\"99\"", "bogus"}},
		{[]string{"unbind b a"}, ErrNotBound, nil},
		{[]string{"replac a b"}, ErrBadVerb, []string{"replac"}},
		{[]string{"bind a"}, ErrBadVerb, nil},
		{[]string{"add e itest-fwd", "add f itest-fwd", "bind a:x f", "replace a e"}, ErrNoOutput, []string{"x"}},
		{[]string{"add e itest-fwd", "bind c e", "replace b e"}, ErrBound, nil},
		{[]string{"set b n=0"}, ErrBadOption, []string{"n="}},
		{[]string{"unsubscribe a c"}, ErrNotFound, nil},
		{[]string{"subscribe b b"}, ErrBadVerb, []string{"its own events"}},
	}
	for _, tc := range cases {
		before := describe(base)
		_, err := apply(t, base, tc.lines...)
		if !errors.Is(err, tc.want) {
			t.Errorf("%q: error %v, want %v", tc.lines, err, tc.want)
			continue
		}
		for _, n := range tc.names {
			if !strings.Contains(err.Error(), n) {
				t.Errorf("%q: error %q does not name %q", tc.lines, err, n)
			}
		}
		if after := describe(base); after != before {
			t.Errorf("%q changed the graph:\n%s\n%s", tc.lines, before, after)
		}
	}
}

func describe(g *Graph) string {
	var b strings.Builder
	for _, n := range g.Names() {
		bi, _ := g.Block(n)
		b.WriteString(n + " " + bi.Type + " up=" + bi.Up + " down=" + bi.Down)
		for _, o := range slices.Sorted(maps.Keys(bi.Outputs)) {
			b.WriteString(" " + o + "=" + bi.Outputs[o])
		}
		b.WriteString(" subs=" + strings.Join(bi.Subs, ","))
		for _, k := range slices.Sorted(maps.Keys(bi.Options)) {
			b.WriteString(" " + k + ":" + bi.Options[k])
		}
		b.WriteString("\n")
	}
	return b.String() + "hook=" + g.Hooked()
}

func TestGraphReplaceKeepsPlace(t *testing.T) {
	g, err := apply(t, NewGraph(1), "add a itest-fwd", "add b itest-fwd", "add c itest-fwd", "bind a b", "bind b c",
		"add n itest-fwd", "subscribe b c", "replace b n")
	if err != nil {
		t.Fatal(err)
	}
	bi, _ := g.Block("b")
	if bi.Up != "c" || bi.Down != "a" || g.blocks["b"].inst != g.created[3] {
		t.Fatalf("after replace: %+v", bi)
	}
	if _, err := g.Block("n"); !errors.Is(err, ErrNotFound) {
		t.Fatal("newcomer's name must disappear")
	}
	if len(g.moves) != 1 || len(g.retired) != 1 || g.retired[0] != g.created[1] {
		t.Fatalf("moves %d retired %d", len(g.moves), len(g.retired))
	}
}

func TestGraphFailedTransactionClosesNewInstances(t *testing.T) {
	g := NewGraph(1)
	c, err := apply(t, g, "add a itest-fwd", "bind a nosuch")
	if err == nil || c != nil {
		t.Fatal("want failure")
	}
	if len(g.blocks) != 0 {
		t.Fatal("graph changed")
	}
}

func TestRegisterDuplicatePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("duplicate Register did not panic")
		}
	}()
	Register("itest-fwd", func() Block { return &fwd{} })
}

func TestMPSC(t *testing.T) {
	q := newMPSC(4)
	for i := range 4 {
		if !q.push(handoff{addr: uint64(i)}) {
			t.Fatal("push refused")
		}
	}
	if q.push(handoff{}) {
		t.Fatal("full queue accepted a push")
	}
	for i := range 4 {
		h, ok := q.pop()
		if !ok || h.addr != uint64(i) {
			t.Fatalf("pop %d: %v %v", i, h, ok)
		}
	}
	if _, ok := q.pop(); ok {
		t.Fatal("empty queue popped")
	}
}

// TestGraphCopyOnWrite changes clones that share block descriptions with
// their source, in every way a verb can, and checks that neither side sees
// the other's change: a transaction's graph, its source, and a source
// changed after it was cloned.
func TestGraphCopyOnWrite(t *testing.T) {
	base, err := apply(t, NewGraph(1),
		"add a itest-fwd outs=x,y", "add b itest-fwd", "add c itest-fwd", "add d itest-fwd", "add e itest-fwd",
		"bind a b", "bind a:x c", "bind b d", "subscribe d a", "subscribe c e", "hook a")
	if err != nil {
		t.Fatal(err)
	}
	want := describe(base)
	for _, txn := range [][]string{
		{"unbind a b"},
		{"unbind a:x c", "bind a:y c"},
		{"bind d e"},
		{"subscribe a e", "unsubscribe d a"},
		{"set b n=2"},
		{"add n itest-fwd", "replace b n"},
		{"add n itest-fwd", "subscribe n a", "replace-drop c n"},
		{"unsubscribe c e", "rm e"},
		{"unhook", "unbind a b", "unbind b d", "rm d"},
		{"bind d e", "bind e nosuch"}, // fails after changing d and e
	} {
		g, err := apply(t, base, txn...)
		if got := describe(base); got != want {
			t.Fatalf("%q changed its source graph:\n%s\nwant\n%s", txn, got, want)
		}
		if err != nil {
			continue
		}
		after := describe(g)
		// The source changes after the clone: the clone must not see it.
		if err := base.Subscribe("b", "c"); err != nil {
			t.Fatal(err)
		}
		if got := describe(g); got != after {
			t.Fatalf("%q: a change to the source reached the clone:\n%s\nwant\n%s", txn, got, after)
		}
		if err := base.Unsubscribe("b", "c"); err != nil {
			t.Fatal(err)
		}
		// And a second generation leaves the first alone.
		if _, err := apply(t, g, "add z itest-fwd", "bind e z", "subscribe z b"); err != nil && !errors.Is(err, ErrPortTaken) && !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		if got := describe(g); got != after {
			t.Fatalf("%q: the next transaction changed it:\n%s\nwant\n%s", txn, got, after)
		}
	}
	if got := describe(base); got != want {
		t.Fatalf("source graph changed:\n%s\nwant\n%s", got, want)
	}
}
