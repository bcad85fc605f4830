package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lana-net/lana/api"
	"github.com/lana-net/lana/engine"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestGuardRecovers: a panicking handler answers 500 and the server lives.
func TestGuardRecovers(t *testing.T) {
	s := &Server{log: quiet(), gid: -1}
	h := s.guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") }))
	req := httptest.NewRequest("GET", "/v1/list", nil)
	req = req.WithContext(withPeer(req, &Peer{UID: 0}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var e api.Error
	if rec.Code != 500 || json.Unmarshal(rec.Body.Bytes(), &e) != nil || !strings.Contains(e.Message, "boom") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

// TestAllowed checks the authorisation rule on peer credentials.
func TestAllowed(t *testing.T) {
	root := &Server{gid: -1}
	grp := &Server{gid: 1234}
	for _, c := range []struct {
		s    *Server
		p    *Peer
		want bool
	}{
		{root, nil, false},
		{root, &Peer{UID: 0, GID: 5}, true},
		{root, &Peer{UID: 1000, GID: 1234}, false},
		{grp, &Peer{UID: 1000, GID: 1234}, true},
		{grp, &Peer{UID: 1000, GID: 1, Groups: []uint32{7, 1234}}, true},
		{grp, &Peer{UID: 1000, GID: 1, Groups: []uint32{7}}, false},
	} {
		if got := c.s.allowed(c.p); got != c.want {
			t.Errorf("gid %d peer %+v: allowed %v, want %v", c.s.gid, c.p, got, c.want)
		}
	}
}

// TestFailErrStatus maps engine errors to statuses.
func TestFailErrStatus(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("x: %w", engine.ErrNotFound), 404},
		{fmt.Errorf("x: %w", engine.ErrCycle), 409},
		{fmt.Errorf("x: %w", engine.ErrPortTaken), 409},
		{fmt.Errorf("x: %w", engine.ErrBound), 409},
		{fmt.Errorf("x: %w", engine.ErrUnknownType), 400},
		{fmt.Errorf("x: %w", engine.ErrBadOption), 400},
		{fmt.Errorf("x: %w", ErrBadRequest), 400},
		{ErrClosed, 503},
		{errors.New("other"), 500},
	} {
		rec := httptest.NewRecorder()
		failErr(rec, c.err)
		if rec.Code != c.want {
			t.Errorf("%v: %d, want %d", c.err, rec.Code, c.want)
		}
	}
}

// TestEngineVerb checks the API-to-engine verb conversion and its refusals.
func TestEngineVerb(t *testing.T) {
	v, err := EngineVerb(api.Verb{Op: "add", Args: []string{"e0", "eth"}, Options: map[string]string{"promisc": "true", "mac": "02:00:00:00:00:01"}})
	if err != nil || v.String() != "add e0 eth mac=02:00:00:00:00:01 promisc=true" {
		t.Fatalf("%v %v", v, err)
	}
	for _, bad := range []api.Verb{
		{Op: "ad", Args: []string{"x", "dummy"}},
		{Op: "replace-dro", Args: []string{"a", "b"}},
		{Op: "bind", Args: []string{"a", "b"}, Options: map[string]string{"k": "v"}},
		{Op: "set", Args: []string{"a"}, Options: map[string]string{"k=": "v"}},
		{Op: "set", Args: []string{"a"}, Options: map[string]string{"k w": "v"}},
	} {
		if _, err := EngineVerb(bad); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%+v: err %v, want ErrBadRequest", bad, err)
		}
	}
}

// TestEngineVerbValueWithSpaces: a filter expression is one option value.
func TestEngineVerbValueWithSpaces(t *testing.T) {
	v, err := EngineVerb(api.Verb{Op: "set", Args: []string{"f"}, Options: map[string]string{"filter": "udp dst port 9"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := v.String(); got != `set f "filter=udp dst port 9"` {
		t.Fatalf("verb %q", got)
	}
}

func withPeer(r *http.Request, p *Peer) context.Context {
	return context.WithValue(r.Context(), peerKey{}, p)
}
