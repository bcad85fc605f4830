package engine_test

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/xsk"
)

// FuzzParseVerb: any line either parses or is refused with ErrBadVerb, and
// a parsed verb reads back unchanged from its String form.
func FuzzParseVerb(f *testing.F) {
	for _, s := range []string{"add e0 eth promisc=true", `set f "filter=udp dst port 9"`, `set f filter='a b'`,
		`set f x="a \"b\" \\c"`, "bind a:out b", "unhook", "", `'`, `"\`, "add a\tb\nc", "set f x=\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		v, err := engine.ParseVerb(line)
		if err != nil {
			return
		}
		again, err := engine.ParseVerb(v.String())
		if err != nil || again.Op != v.Op || !slices.Equal(again.Args, v.Args) {
			t.Fatalf("ParseVerb(%q) = %q %q; its String %q reads back as %q %q, %v", line, v.Op, v.Args, v.String(), again.Op, again.Args, err)
		}
	})
}

// fuzzNames, fuzzTypes and fuzzOps are the vocabulary FuzzGraphApply builds
// verbs from: few names so that verbs collide, every block type the
// blocks package has plus an unknown one, every operation plus a bad one.
var (
	fuzzNames = []string{"a", "b", "c", "d", "e", "a:clone", "e:ip", "x y", ""}
	fuzzTypes = []string{"dummy", "counter", "tee", "eth", "nope"}
	fuzzOpts  = []string{"", "promisc=true", "type.ip=0x0800", "egress=true", "bogus=1", "promisc=maybe", "type.=0x0800"}
	fuzzOps   = []string{"add", "rm", "set", "bind", "unbind", "replace", "replace-drop", "subscribe", "unsubscribe", "hook", "unhook", "frob"}
)

// verbsFrom decodes a byte string into transactions of verbs.
func verbsFrom(data []byte) [][]engine.Verb {
	var txs [][]engine.Verb
	var cur []engine.Verb
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return int(b)
	}
	for len(data) > 0 {
		op := fuzzOps[next()%len(fuzzOps)]
		n1, n2 := fuzzNames[next()%len(fuzzNames)], fuzzNames[next()%len(fuzzNames)]
		var v engine.Verb
		switch op {
		case "add":
			v = engine.Verb{Op: op, Args: []string{n1, fuzzTypes[next()%len(fuzzTypes)]}}
			if o := fuzzOpts[next()%len(fuzzOpts)]; o != "" {
				v.Args = append(v.Args, o)
			}
		case "set":
			v = engine.Verb{Op: op, Args: []string{n1, fuzzOpts[next()%len(fuzzOpts)]}}
		case "rm", "hook":
			v = engine.Verb{Op: op, Args: []string{n1}}
		case "unhook":
			v = engine.Verb{Op: op}
		default:
			v = engine.Verb{Op: op, Args: []string{n1, n2}}
		}
		cur = append(cur, v)
		if next()%3 == 0 { // end of transaction
			txs = append(txs, cur)
			cur = nil
		}
	}
	if len(cur) > 0 {
		txs = append(txs, cur)
	}
	return txs
}

// graphState renders everything a Graph tells about itself.
func graphState(e *engine.Engine) string {
	var b strings.Builder
	e.View(func(g *engine.Graph) {
		fmt.Fprintf(&b, "hook=%q\n", g.Hooked())
		for _, n := range g.Names() {
			bi, err := g.Block(n)
			fmt.Fprintf(&b, "%+v %v\n", bi, err)
		}
	})
	return b.String()
}

// checkGraph verifies the graph's invariants: bindings are symmetric (Down
// names the block below, whose ingress port or one of whose outputs is
// bound to this one), every
// name bound or hooked exists, and no ingress path loops.
func checkGraph(t *testing.T, e *engine.Engine) {
	t.Helper()
	e.View(func(g *engine.Graph) {
		info := map[string]engine.BlockInfo{}
		for _, n := range g.Names() {
			bi, err := g.Block(n)
			if err != nil {
				t.Fatalf("Block(%q) of a listed name: %v", n, err)
			}
			info[n] = bi
		}
		if h := g.Hooked(); h != "" {
			if _, ok := info[h]; !ok {
				t.Fatalf("hooked block %q does not exist", h)
			}
		}
		for n, bi := range info {
			if bi.Up != "" && info[bi.Up].Down != n {
				t.Fatalf("%s.Up = %s but %s.Down = %q", n, bi.Up, bi.Up, info[bi.Up].Down)
			}
			for o, above := range bi.Outputs {
				if above != "" && info[above].Down != n {
					t.Fatalf("%s:%s -> %s but %s.Down = %q", n, o, above, above, info[above].Down)
				}
			}
			if slices.Contains(bi.Subs, n) {
				t.Fatalf("%s subscribes to itself: %+v", n, bi)
			}
			if bi.Down != "" {
				bb, ok := info[bi.Down]
				if !ok {
					t.Fatalf("%s.Down = %q: no such block", n, bi.Down)
				}
				if bb.Up != n && !slices.Contains(slices.Collect(maps.Values(bb.Outputs)), n) {
					t.Fatalf("%s.Down = %q but that side says %+v", n, bi.Down, bb)
				}
			}
			// Walk every ingress path from n: it must end within len(info) hops.
			seen := 0
			var walk func(x string)
			walk = func(x string) {
				if seen++; seen > 4*len(info)*len(info)+4 {
					t.Fatalf("ingress path from %s loops", n)
				}
				bx := info[x]
				if bx.Up != "" {
					walk(bx.Up)
				}
				for _, a := range bx.Outputs {
					if a != "" {
						walk(a)
					}
				}
			}
			walk(n)
		}
	})
}

// FuzzGraphApply applies random transactions of random verbs to an engine
// and, after each, pushes a vector of frames through the compiled graph.
// A refused transaction leaves the graph exactly as it was; an accepted one
// keeps the graph's invariants (checkGraph); the data path never panics and
// loses no frame (after the kernel side drains, nothing is held or in
// flight and every frame is free or in the fill ring).
//
// Seeds: testdata/fuzz/FuzzGraphApply and the cases below.
func FuzzGraphApply(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 0, 0, 0, 1, 1, 0, 0, 9, 0, 1, 4, 0, 3, 9, 0, 0})
	f.Add([]byte{0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3, 0, 5, 1, 3, 5, 0, 1, 0})
	f.Add([]byte("the quick brown fox jumps over the lazy dog, twice: the quick brown fox"))
	frame := testFrame()
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := xsk.NewMemQueue(xsk.UMEMConfig{FrameSize: 2048, FrameCount: 256, FillSize: 256, CompletionSize: 256}, 128, 128)
		if err != nil {
			t.Fatal(err)
		}
		e, err := engine.New(engine.Config{Workers: []engine.WorkerConfig{{Queue: q, UMEM: q.UMEM(), Reserve: 64}}})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		w := e.Worker(0)
		w.RunOnce()
		for i, tx := range verbsFrom(data) {
			if i >= 64 {
				break
			}
			before := graphState(e)
			if err := e.Apply(tx...); err != nil {
				if after := graphState(e); after != before {
					t.Fatalf("refused %q (%v) changed the graph:\n%s\n%s", tx, err, before, after)
				}
				continue
			}
			checkGraph(t, e)
			q.Deliver(frame, 32)
			w.RunOnce()
			q.DrainTX(nil)
			w.RunOnce()
			if fc := w.Stats().Frames; fc.Held != 0 || fc.InTX != 0 || fc.Free+fc.Spare+fc.Kernel != fc.Total {
				t.Fatalf("after %q: frames %+v", tx, fc)
			}
		}
		if s := w.Stats(); s.RxPackets == 0 && !reflect.DeepEqual(s.Drops, map[string]uint64{}) {
			t.Fatalf("drops without packets: %+v", s)
		}
	})
}
