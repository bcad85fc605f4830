package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/lana-net/lana/api"
	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/internal/config"
)

// ServerConfig shapes a Server.
type ServerConfig struct {
	// Socket is the Unix socket path; its directory is created (0755) and
	// a stale socket file is replaced.
	Socket string
	// Group, when set, may use the API besides root; the socket is
	// chowned to it. Mode is 0660 either way.
	Group string
	// Reload reloads the configuration file (POST /v1/reload); nil refuses.
	Reload func() error
	// MaxConns bounds the connections served at once (default
	// DefaultMaxConns); more wait in the accept backlog.
	MaxConns int
}

// Server serves the control API of a Runtime on a Unix socket.
type Server struct {
	rt   *Runtime
	log  *slog.Logger
	gid  int // allowed group, -1 for root only
	http *http.Server
	ln   net.Listener
	path string
	cfg  ServerConfig

	mu      sync.Mutex
	streams map[net.Conn]struct{} // open streams, closed by Shutdown
	closing bool                  // Shutdown began: no new streams
	// stopping is closed when Shutdown begins: running replays end.
	stopping chan struct{}
}

type peerKey struct{}

// NewServer listens on cfg.Socket; call Serve to answer requests.
func NewServer(rt *Runtime, cfg ServerConfig, log *slog.Logger) (*Server, error) {
	s := &Server{rt: rt, log: log, gid: -1, path: cfg.Socket, cfg: cfg, streams: map[net.Conn]struct{}{},
		stopping: make(chan struct{})}
	if cfg.Group != "" {
		g, err := user.LookupGroup(cfg.Group)
		if err != nil {
			return nil, fmt.Errorf("control group %q: %w", cfg.Group, err)
		}
		s.gid, _ = strconv.Atoi(g.Gid)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Socket), 0o755); err != nil {
		return nil, fmt.Errorf("control socket directory: %w", err)
	}
	if fi, err := os.Lstat(cfg.Socket); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket %s: exists and is not a socket", cfg.Socket)
		}
		if c, err := net.Dial("unix", cfg.Socket); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another lanad answers there", cfg.Socket)
		}
		os.Remove(cfg.Socket)
	}
	ln, err := net.Listen("unix", cfg.Socket)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(cfg.Socket, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket mode: %w", err)
	}
	if s.gid >= 0 {
		if err := os.Chown(cfg.Socket, 0, s.gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("control socket group: %w", err)
		}
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	s.ln = newLimitListener(ln, cfg.MaxConns)
	s.http = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       controlReadTimeout,
		IdleTimeout:       controlIdleTimeout,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if lc, ok := c.(*limitConn); ok {
				c = lc.Conn
			}
			p, err := peerOf(c)
			if err != nil {
				log.Warn("peer credentials", "err", err)
				return ctx
			}
			return context.WithValue(ctx, peerKey{}, p)
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Serve answers requests until Shutdown.
func (s *Server) Serve() error {
	if err := s.http.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting, closes the open streams (a transaction in
// progress completes first), ends running replays, waits for running
// requests and removes the socket file.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		close(s.stopping)
	}
	s.closing = true
	for c := range s.streams {
		c.Close()
	}
	s.mu.Unlock()
	err := s.http.Shutdown(ctx)
	os.Remove(s.path)
	return err
}

// Handler returns the API's routes wrapped in authorisation and recovery.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.RouteVerb, s.verb)
	mux.HandleFunc("POST "+api.RouteTransaction, s.transaction)
	mux.HandleFunc("GET "+api.RouteList, func(w http.ResponseWriter, r *http.Request) { reply(w, s.rt.List()) })
	mux.HandleFunc("GET "+api.RouteBlocks, func(w http.ResponseWriter, r *http.Request) { reply(w, s.rt.List().Blocks) })
	mux.HandleFunc("GET "+api.RouteBlock, s.show)
	mux.HandleFunc("GET "+api.RouteTypes, func(w http.ResponseWriter, r *http.Request) { reply(w, engine.Types()) })
	mux.HandleFunc("GET "+api.RouteBindings, func(w http.ResponseWriter, r *http.Request) { reply(w, s.rt.List().Bindings) })
	mux.HandleFunc("GET "+api.RouteSubscriptions, func(w http.ResponseWriter, r *http.Request) { reply(w, s.rt.List().Subscriptions) })
	mux.HandleFunc("GET "+api.RouteQueues, func(w http.ResponseWriter, r *http.Request) { reply(w, s.rt.Queues()) })
	mux.HandleFunc("GET "+api.RouteStats, func(w http.ResponseWriter, r *http.Request) { reply(w, s.rt.Stats()) })
	mux.HandleFunc("GET "+api.RouteSave, s.save)
	mux.HandleFunc("POST "+api.RouteReload, s.reload)
	mux.HandleFunc("POST "+api.RouteStream, s.stream)
	mux.HandleFunc("POST "+api.RouteReplay, s.replay)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, "not-found", fmt.Sprintf("no route %s %s (routes live under %s)", r.Method, r.URL.Path, api.Prefix))
	})
	return s.guard(mux)
}

// guard authorises the caller and turns a panic into a 500.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				fail(w, http.StatusInternalServerError, "internal", fmt.Sprintf("internal error: %v", v))
			}
		}()
		p, _ := r.Context().Value(peerKey{}).(*Peer)
		if !s.allowed(p) {
			who := "unknown peer"
			if p != nil {
				who = fmt.Sprintf("uid %d gid %d (pid %d)", p.UID, p.GID, p.PID)
			}
			rule := "only root may use lanad's control API"
			if s.gid >= 0 {
				rule = fmt.Sprintf("only root and group %s (gid %d) may use lanad's control API", s.cfg.Group, s.gid)
			}
			s.log.Warn("refused caller", "who", who)
			fail(w, http.StatusForbidden, "forbidden", who+": "+rule)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, api.MaxBody)
		next.ServeHTTP(w, r)
	})
}

func (s *Server) allowed(p *Peer) bool {
	if p == nil {
		return false
	}
	if p.UID == 0 {
		return true
	}
	if s.gid < 0 {
		return false
	}
	if p.GID == uint32(s.gid) {
		return true
	}
	for _, g := range p.Groups {
		if g == uint32(s.gid) {
			return true
		}
	}
	return false
}

// decode reads exactly one JSON value with known fields into v from r's
// body, or answers the error.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := decodeStrict(r.Body, v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(w, http.StatusRequestEntityTooLarge, "too-large", fmt.Sprintf("request body over %d bytes", tooBig.Limit))
			return false
		}
		fail(w, http.StatusBadRequest, "bad-request", "malformed JSON body: "+err.Error())
		return false
	}
	return true
}

// decodeStrict reads exactly one JSON value with known fields into v: an
// unknown field or anything after the value is an error.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

func (s *Server) verb(w http.ResponseWriter, r *http.Request) {
	var v api.Verb
	if r.ContentLength != 0 {
		if !decode(w, r, &v) {
			return
		}
	}
	op := r.PathValue("op")
	if v.Op != "" && v.Op != op {
		fail(w, http.StatusBadRequest, "bad-request", fmt.Sprintf("verb %q in the body, %q in the path: they must agree", v.Op, op))
		return
	}
	v.Op = op
	s.apply(w, []api.Verb{v})
}

func (s *Server) transaction(w http.ResponseWriter, r *http.Request) {
	var t api.Transaction
	if !decode(w, r, &t) {
		return
	}
	s.apply(w, t.Verbs)
}

func (s *Server) apply(w http.ResponseWriter, verbs []api.Verb) {
	if err := s.rt.Apply(verbs); err != nil {
		s.log.Warn("refused", "verbs", fmt.Sprint(verbs), "err", err)
		failErr(w, err)
		return
	}
	reply(w, api.Result{Applied: len(verbs)})
}

func (s *Server) show(w http.ResponseWriter, r *http.Request) {
	d, err := s.rt.Show(r.PathValue("name"))
	if err != nil {
		failErr(w, err)
		return
	}
	reply(w, d)
}

func (s *Server) save(w http.ResponseWriter, r *http.Request) {
	out, err := s.rt.Save()
	if err != nil {
		failErr(w, err)
		return
	}
	reply(w, api.Saved{Config: string(out)})
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Reload == nil {
		fail(w, http.StatusConflict, "conflict", "reload: lanad runs without a configuration file")
		return
	}
	if err := s.cfg.Reload(); err != nil {
		failErr(w, err)
		return
	}
	reply(w, api.Result{})
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, kind, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(api.Error{Message: msg, Kind: kind})
}

// failErr answers err with the status and kind of the sentinel it wraps.
func failErr(w http.ResponseWriter, err error) {
	status, kind := classify(err)
	fail(w, status, kind, err.Error())
}

// classify maps an error to its HTTP status and API kind by the sentinel it
// wraps.
func classify(err error) (status int, kind string) {
	status, kind = http.StatusInternalServerError, "internal"
	switch {
	case errors.Is(err, engine.ErrNotFound):
		status, kind = http.StatusNotFound, "not-found"
	case errors.Is(err, engine.ErrExists), errors.Is(err, engine.ErrPortTaken), errors.Is(err, engine.ErrBound),
		errors.Is(err, engine.ErrCycle), errors.Is(err, engine.ErrNotBound), errors.Is(err, engine.ErrTypeMismatch):
		status, kind = http.StatusConflict, "conflict"
	case errors.Is(err, ErrBadRequest), errors.Is(err, engine.ErrBadVerb), errors.Is(err, engine.ErrBadOption),
		errors.Is(err, engine.ErrBadName), errors.Is(err, engine.ErrUnknownType), errors.Is(err, engine.ErrNoOutput),
		errors.Is(err, engine.ErrConfig), errors.Is(err, config.ErrInvalid):
		status, kind = http.StatusBadRequest, "bad-request"
	case errors.Is(err, ErrClosed), errors.Is(err, engine.ErrStopped):
		status, kind = http.StatusServiceUnavailable, "unavailable"
	}
	return status, kind
}
