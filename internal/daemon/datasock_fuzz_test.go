package daemon

import (
	"encoding/json"
	"testing"

	"github.com/lana-net/lana/appwire"
)

// FuzzParseHello feeds arbitrary first messages to the data socket's Hello
// parser: no panic, and an accepted Hello is one of the three documented
// forms (create, attach, capture) with a block name.
func FuzzParseHello(f *testing.F) {
	for _, h := range []string{`{"block":"app","below":"e0"}`, `{"block":"app"}`, `{"block":"count","capture":true}`,
		`{"block":"a","below":"e0:v","options":{"snap":"64"}}`, `{"block":""}`, `{"block":"x","capture":true,"below":"y"}`, `[`, `null`} {
		f.Add(append(appwire.AppendHeader(nil, appwire.TypeHello, 0, len(h)), h...), 0)
	}
	f.Fuzz(func(t *testing.T, msg []byte, flags int) {
		var h appwire.Hello
		if err := parseHello(msg, flags, &h); err != nil {
			return
		}
		switch {
		case h.Block == "":
			t.Fatalf("accepted a hello without a block: %q", msg)
		case h.Capture && h.Below != "":
			t.Fatalf("accepted capture with below: %q", msg)
		case h.Below == "" && !h.Capture && len(h.Options) > 0:
			t.Fatalf("accepted options on attach: %q", msg)
		}
		if _, err := json.Marshal(h); err != nil {
			t.Fatal(err)
		}
	})
}
