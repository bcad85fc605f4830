package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lana-net/lana/api"
	_ "github.com/lana-net/lana/blocks"
	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/internal/config"
	"github.com/lana-net/lana/xsk"
)

// memRuntime is a Runtime over one memory-backed queue (no NIC, no XDP
// program) running the paper's stack: enough for the control API, whose
// handlers only reach the engine.
func memRuntime(tb testing.TB) *Runtime {
	tb.Helper()
	r := newMemRuntime(tb)
	tb.Cleanup(func() { r.eng.Close() })
	return r
}

// newMemRuntime is memRuntime without the cleanup: the caller closes r.eng.
func newMemRuntime(tb testing.TB) *Runtime {
	tb.Helper()
	q, err := xsk.NewMemQueue(xsk.UMEMConfig{FrameSize: 2048, FrameCount: 64, FillSize: 64, CompletionSize: 64}, 64, 64)
	if err != nil {
		tb.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Workers: []engine.WorkerConfig{{Queue: q, UMEM: q.UMEM()}}})
	if err != nil {
		tb.Fatal(err)
	}
	f, err := config.Parse([]byte(`interfaces: [{name: mem0}]
stack:
  blocks: [{name: e0, type: eth}, {name: fwd0, type: dummy}, {name: count, type: counter}]
  bindings: [{below: e0, above: fwd0}, {below: fwd0, above: count}]
  hook: e0
`))
	if err != nil {
		tb.Fatal(err)
	}
	if err := eng.Apply(f.Stack.Verbs()...); err != nil {
		tb.Fatal(err)
	}
	return &Runtime{log: quiet(), file: f, eng: eng}
}

// fuzzMethods are the methods FuzzControlAPI picks from by its first byte.
var fuzzMethods = []string{"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"}

// FuzzControlAPI sends arbitrary requests (method, path, body) through the
// full handler chain (authorisation as root, body limit, routing,
// decoding) of a server over a live engine. For every input: no panic, no
// 5xx (bad input is the caller's fault: 4xx naming it), every error body is
// an api.Error, and a refused request leaves the running stack (list and
// save) exactly as it was.
//
// Seeds: testdata/fuzz/FuzzControlAPI and the cases below.
func FuzzControlAPI(f *testing.F) {
	for _, c := range []struct {
		m          byte
		path, body string
	}{
		{0, "/v1/list", ""},
		{1, "/v1/replay", `{"transactions":[{"verbs":[{"op":"add","args":["r1","dummy"]}]},{"verbs":[{"op":"rm","args":["r1"]}]}],"every":"1ms","count":4}`},
		{1, "/v1/replay", `{"transactions":[{"verbs":[{"op":"add","args":["r1","dummy"]}]}],"every":"1ms","for":"5ms"}`},
		{1, "/v1/replay", `{"transactions":[],"every":"1ms","count":1}`},
		{0, "/v1/stats", ""},
		{0, "/v1/blocks/e0", ""},
		{0, "/v1/blocks/nope", ""},
		{0, "/v1/save", ""},
		{1, "/v1/verbs/add", `{"args":["x","dummy"]}`},
		{1, "/v1/verbs/add", `{"args":["x","eth"],"options":{"type.v":"0xAC01","mac":"02:00:00:00:00:01"}}`},
		{1, "/v1/verbs/bind", `{"args":["count","fwd0"]}`},
		{1, "/v1/verbs/rm", `{"args":["fwd0"]}`},
		{1, "/v1/verbs/set", `{"args":["e0"],"options":{"promisc":"maybe"}}`},
		{1, "/v1/verbs/unhook", ``},
		{1, "/v1/verbs/replace", `{"args":["count","fwd0"]}`},
		{1, "/v1/transaction", `{"verbs":[{"op":"add","args":["t","tee"]},{"op":"bind","args":["count","t"]},{"op":"bind","args":["t:clone","t"]}]}`},
		{1, "/v1/transaction", `{"verbs":[]}`},
		{1, "/v1/verbs/add", `{"args":["a"`},
		{1, "/v1/reload", ``},
		{2, "/v1/list", `{}`},
		{0, "/v1/verbs/%zz", ``},
		{1, "/v1/verbs/add", `{"args":["x","dummy"]} {}`},
	} {
		f.Add(c.m, c.path, []byte(c.body))
	}
	rt := newMemRuntime(f)
	f.Cleanup(func() { rt.eng.Close() })
	s := &Server{rt: rt, log: quiet(), gid: -1}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, m byte, path string, body []byte) {
		method := fuzzMethods[int(m)%len(fuzzMethods)]
		if !strings.HasPrefix(path, "/") {
			path = "/v1/" + path
		}
		req, err := http.NewRequest(method, "http://lanad"+path, bytes.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		req = req.WithContext(withPeer(req, &Peer{UID: 0}))
		// A replay the fuzzer makes long ends with its client.
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		req = req.WithContext(ctx)
		before, saved := snapshot(t, rt)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q %q: %d %s", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var e api.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Message == "" || e.Kind == "" {
				t.Fatalf("%s %q: %d with a body that is no api.Error: %q", method, path, rec.Code, rec.Body)
			}
			after, saved2 := snapshot(t, rt)
			if after != before || saved2 != saved {
				t.Fatalf("%s %q %q refused (%d %s) but changed the stack:\n%s\n%s", method, path, body, rec.Code, e.Message, before, after)
			}
		}
		if rec.Code < 300 && method == "POST" {
			// Keep the state small: a stack that grew through accepted
			// verbs goes back to the seed stack.
			var n int
			rt.eng.View(func(g *engine.Graph) { n = len(g.Names()) })
			if n > 32 {
				rt.eng.Close()
				rt = newMemRuntime(t)
				s.rt = rt
			}
		}
	})
}

// snapshot returns the list and save renderings of the running stack.
func snapshot(t *testing.T, rt *Runtime) (string, string) {
	t.Helper()
	l, err := json.Marshal(rt.List())
	if err != nil {
		t.Fatal(err)
	}
	s, err := rt.Save()
	if err != nil {
		t.Fatalf("save: %v", err)
	}
	return string(l), string(s)
}
