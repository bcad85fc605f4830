package engine

import (
	"errors"
	"slices"
	"testing"
)

func TestParseVerbQuoting(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"add e0 eth promisc=true", []string{"add", "e0", "eth", "promisc=true"}},
		{`set f "filter=udp dst port 9"`, []string{"set", "f", "filter=udp dst port 9"}},
		{`set f filter='udp dst port 9'`, []string{"set", "f", "filter=udp dst port 9"}},
		{`set f filter="a \"b\" \\c"`, []string{"set", "f", `filter=a "b" \c`}},
		{"  bind   a  b  ", []string{"bind", "a", "b"}},
		{`set f x=""`, []string{"set", "f", "x="}},
	} {
		v, err := ParseVerb(tc.line)
		if err != nil {
			t.Fatalf("ParseVerb(%q): %v", tc.line, err)
		}
		got := append([]string{v.Op}, v.Args...)
		if !slices.Equal(got, tc.want) {
			t.Errorf("ParseVerb(%q) = %q, want %q", tc.line, got, tc.want)
		}
		// String reads back unchanged.
		again, err := ParseVerb(v.String())
		if err != nil || again.Op != v.Op || !slices.Equal(again.Args, v.Args) {
			t.Errorf("ParseVerb(%q.String() = %q) = %q, %v", tc.line, v.String(), again, err)
		}
	}
	for _, bad := range []string{"", "   ", `set f "filter=udp`, `set f 'x`} {
		if _, err := ParseVerb(bad); !errors.Is(err, ErrBadVerb) {
			t.Errorf("ParseVerb(%q) = %v, want ErrBadVerb", bad, err)
		}
	}
	tabs := Verb{Op: "set", Args: []string{"f", "x=a\tb\nc", ""}}
	if again, err := ParseVerb(tabs.String()); err != nil || !slices.Equal(again.Args, tabs.Args) {
		t.Errorf("round trip of %q via %q = %q, %v", tabs.Args, tabs.String(), again.Args, err)
	}
}
