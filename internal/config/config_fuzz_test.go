package config

import (
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/lana-net/lana/engine"
)

// FuzzParse feeds arbitrary bytes to Parse. Whatever the input: no panic; a
// refusal wraps ErrInvalid; an accepted file survives Marshal and Parse
// unchanged (same host half, same stack verbs) and its stack builds on an
// empty graph, which is what lanad does at start and on SIGHUP.
//
// Seeds: the files in configs/ and testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"paper.yaml", "demux.yaml"} {
		data, err := os.ReadFile("../../configs/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cf, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("refusal does not wrap ErrInvalid: %v", err)
			}
			return
		}
		out, err := Marshal(cf)
		if err != nil {
			t.Fatalf("accepted file does not marshal: %v", err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("marshalled file refused: %v\n%s", err, out)
		}
		if err := SameHost(cf, again); err != nil {
			t.Fatalf("host half changed by a round trip: %v\n%s", err, out)
		}
		if a, b := verbStrings(cf.Stack.Verbs()), verbStrings(again.Stack.Verbs()); !reflect.DeepEqual(a, b) {
			t.Fatalf("stack changed by a round trip:\n%q\n%q", a, b)
		}
		g := engine.NewGraph(1)
		for _, v := range cf.Stack.Verbs() {
			if err := g.Apply(v); err != nil {
				t.Fatalf("accepted stack does not build: %s: %v", v, err)
			}
		}
	})
}

func verbStrings(vs []engine.Verb) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.String()
	}
	return out
}
