package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lana-net/lana/appwire"
	"github.com/lana-net/lana/blocks/sockexport"
	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/internal/config"
)

// DataConfig shapes a DataServer.
type DataConfig struct {
	// Socket is the SOCK_SEQPACKET socket path (appwire.DefaultSocket when
	// empty); its directory is created and a stale socket file replaced.
	Socket string
	// Group, when set, may connect besides root; the socket is chowned to
	// it. Mode is 0660 either way.
	Group string
	// MaxClients bounds simultaneous connections (default
	// appwire.DefaultMaxClients); a client beyond it gets an error.
	MaxClients int
}

// DataServer is lanad's data socket: applications attach to socket-export
// blocks through it and captures tap blocks (see docs/app-protocol.md).
type DataServer struct {
	rt   *Runtime
	log  *slog.Logger
	ln   *net.UnixListener
	path string
	gid  int
	cfg  DataConfig

	mu      sync.Mutex // guards conns, closing, taps
	conns   map[*net.UnixConn]struct{}
	closing bool
	taps    int // sequence for tap names
	wg      sync.WaitGroup
}

// NewDataServer listens on cfg.Socket; call Serve to accept clients.
func NewDataServer(rt *Runtime, cfg DataConfig, log *slog.Logger) (*DataServer, error) {
	if cfg.Socket == "" {
		cfg.Socket = appwire.DefaultSocket
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = appwire.DefaultMaxClients
	}
	s := &DataServer{rt: rt, log: log, path: cfg.Socket, gid: -1, cfg: cfg, conns: map[*net.UnixConn]struct{}{}}
	if cfg.Group != "" {
		g, err := user.LookupGroup(cfg.Group)
		if err != nil {
			return nil, fmt.Errorf("data socket group %q: %w", cfg.Group, err)
		}
		s.gid, _ = strconv.Atoi(g.Gid)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Socket), 0o755); err != nil {
		return nil, fmt.Errorf("data socket directory: %w", err)
	}
	if fi, err := os.Lstat(cfg.Socket); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("data socket %s: exists and is not a socket", cfg.Socket)
		}
		if c, err := net.Dial("unixpacket", cfg.Socket); err == nil {
			c.Close()
			return nil, fmt.Errorf("data socket %s: another lanad answers there", cfg.Socket)
		}
		os.Remove(cfg.Socket)
	}
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: cfg.Socket, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("data socket: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(cfg.Socket, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("data socket mode: %w", err)
	}
	if s.gid >= 0 {
		if err := os.Chown(cfg.Socket, 0, s.gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("data socket group: %w", err)
		}
	}
	s.ln = ln
	return s, nil
}

// Path returns the socket path.
func (s *DataServer) Path() string { return s.path }

// Serve accepts clients until Close; each runs on its own goroutines.
func (s *DataServer) Serve() error {
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("data socket accept: %w", err)
		}
		s.mu.Lock()
		full := len(s.conns) >= s.cfg.MaxClients
		if !s.closing && !full {
			s.conns[c] = struct{}{}
			s.wg.Add(1)
		}
		closing := s.closing
		s.mu.Unlock()
		switch {
		case closing:
			c.Close()
		case full:
			sendError(c, appwire.FlagFatal, fmt.Sprintf("%d clients connected: lanad serves at most %d", s.cfg.MaxClients, s.cfg.MaxClients))
			c.Close()
		default:
			go s.serve(c)
		}
	}
}

// Close stops accepting, disconnects every client (cleaning up their blocks
// and taps) and removes the socket file. Call it before Runtime.Close.
func (s *DataServer) Close() error {
	s.mu.Lock()
	s.closing = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *DataServer) allowed(p *Peer) bool {
	srv := Server{gid: s.gid}
	return srv.allowed(p)
}

// sendError writes an Error message; write failures are the client's loss.
func sendError(c *net.UnixConn, flags uint16, text string) {
	if len(text) > appwire.MaxMessage-appwire.HeaderLen {
		text = text[:appwire.MaxMessage-appwire.HeaderLen]
	}
	msg := appwire.AppendHeader(make([]byte, 0, appwire.HeaderLen+len(text)), appwire.TypeError, flags, len(text))
	c.Write(append(msg, text...))
}

// session is one client's attachment.
type session struct {
	name    string // the block the client reads (tap name for a capture)
	target  string // the block asked for in Hello
	created bool   // lanad added name for this client
	capture bool
	x       *sockexport.Export
}

// serve runs one client from Hello to cleanup.
func (s *DataServer) serve(c *net.UnixConn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	buf := make([]byte, appwire.MaxMessage)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, flags, _, rerr := c.ReadMsgUnix(buf, nil)
	c.SetReadDeadline(time.Time{})
	// The refusal comes after the hello was read, so the client's write of
	// it cannot fail first and hide the reason.
	p, err := peerOf(c)
	if err != nil || !s.allowed(p) {
		who := "unknown peer"
		if p != nil {
			who = fmt.Sprintf("uid %d gid %d (pid %d)", p.UID, p.GID, p.PID)
		}
		rule := "only root may use lanad's data socket"
		if s.gid >= 0 {
			rule = fmt.Sprintf("only root and group %s (gid %d) may use lanad's data socket", s.cfg.Group, s.gid)
		}
		s.log.Warn("refused data client", "who", who)
		sendError(c, appwire.FlagFatal, who+": "+rule)
		return
	}
	if rerr != nil {
		sendError(c, appwire.FlagFatal, "no hello within 5s: "+rerr.Error())
		return
	}
	var hello appwire.Hello
	err = parseHello(buf[:n], flags, &hello)
	var ss *session
	if err == nil {
		ss, err = s.open(hello)
	}
	if err != nil {
		s.log.Info("data client refused", "pid", p.PID, "err", err)
		sendError(c, appwire.FlagFatal, err.Error())
		return
	}
	defer s.finish(ss)
	workers, queue, snap := ss.x.Sizes()
	w := appwire.Welcome{Version: appwire.Version, Block: ss.target, Created: ss.created, Workers: workers,
		Queue: queue, Snap: snap, MaxMessage: appwire.MaxMessage}
	if ss.capture {
		w.Tap = ss.name
	}
	body, _ := json.Marshal(w)
	if _, err := c.Write(append(appwire.AppendHeader(nil, appwire.TypeWelcome, 0, len(body)), body...)); err != nil {
		return
	}
	s.log.Info("data client attached", "pid", p.PID, "uid", p.UID, "block", ss.target, "tap", w.Tap, "created", ss.created)

	stop := make(chan struct{})
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		s.writeLoop(c, ss.x, stop)
	}()
	s.readLoop(c, ss, buf)
	close(stop)
	c.Close() // unblocks a writer stuck on a client that stopped reading
	<-wrote
	s.log.Info("data client gone", "pid", p.PID, "block", ss.target)
}

func parseHello(msg []byte, flags int, h *appwire.Hello) error {
	if flags&unix.MSG_TRUNC != 0 {
		return fmt.Errorf("hello: longer than %d bytes", appwire.MaxMessage)
	}
	hdr, body, err := appwire.Parse(msg)
	if err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	if hdr.Type != appwire.TypeHello {
		return fmt.Errorf("first message: type %d: must be hello (%d)", hdr.Type, appwire.TypeHello)
	}
	if err := json.Unmarshal(body, h); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	switch {
	case h.Block == "":
		return errors.New("hello: block is required")
	case h.Capture && (h.Below != ""):
		return errors.New("hello: capture takes no below (the tap goes below the block)")
	case h.Below == "" && !h.Capture && len(h.Options) > 0:
		return errors.New("hello: options only with below (when lanad creates the block)")
	}
	return nil
}

// open creates, attaches or taps per h.
func (s *DataServer) open(h appwire.Hello) (*session, error) {
	ss := &session{name: h.Block, target: h.Block}
	switch {
	case h.Capture:
		tap, err := s.insertTap(h.Block, h.Options)
		if err != nil {
			return nil, err
		}
		ss.name, ss.capture, ss.created = tap, true, true
	case h.Below != "":
		opts := map[string]string{}
		for k, v := range h.Options {
			opts[k] = v
		}
		if err := s.rt.applyEngine(config.AddVerb(h.Block, sockexport.Type, opts),
			engine.Verb{Op: "bind", Args: []string{h.Below, h.Block}}); err != nil {
			return nil, fmt.Errorf("create %s below %s: %w", h.Block, h.Below, err)
		}
		ss.created = true
	}
	inst, err := s.rt.eng.Instance(ss.name)
	if err == nil {
		if b, ok := inst.(*sockexport.Block); ok {
			ss.x = b.Export()
			err = ss.x.Attach(s.rt.eng)
		} else {
			err = fmt.Errorf("block %s: type %T: must be %s to attach", ss.name, inst, sockexport.Type)
		}
	}
	if err != nil {
		s.finish(ss)
		return nil, err
	}
	return ss, nil
}

// finish detaches and removes what open made.
func (s *DataServer) finish(ss *session) {
	if ss.x != nil {
		ss.x.Detach()
	}
	if !ss.created {
		return
	}
	var err error
	if ss.capture {
		err = s.removeTap(ss.name, ss.target)
	} else {
		err = s.rt.applyEngine(s.rt.isolate(ss.name)...)
	}
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		s.log.Warn("data client cleanup", "block", ss.name, "err", err)
	}
}

// writeLoop moves queued frames to the client until stop or the block
// closes. A client that stops reading blocks Write here, never a worker.
func (s *DataServer) writeLoop(c *net.UnixConn, x *sockexport.Export, stop <-chan struct{}) {
	const pre = appwire.HeaderLen + appwire.MetaLen
	msg := make([]byte, appwire.MaxMessage)
	for {
		for {
			m, n, ok := x.Next(msg[pre:])
			if !ok {
				break
			}
			dir := appwire.DirIngress
			if m.Dir == engine.Egress {
				dir = appwire.DirEgress
			}
			appwire.PutHeader(msg, appwire.TypeFrame, 0, appwire.MetaLen+n)
			appwire.PutMeta(msg[appwire.HeaderLen:], appwire.Meta{Time: m.Time, Orig: m.Orig, Queue: m.Queue, Dir: dir})
			if _, err := c.Write(msg[:pre+n]); err != nil {
				return
			}
		}
		select {
		case <-x.Ready():
		case <-x.Done():
			sendError(c, appwire.FlagFatal, "block removed from the stack")
			c.Close()
			return
		case <-stop:
			return
		}
	}
}

// readLoop takes the client's messages until it disconnects.
func (s *DataServer) readLoop(c *net.UnixConn, ss *session, buf []byte) {
	var lastErr time.Time
	for {
		n, _, flags, _, err := c.ReadMsgUnix(buf, nil)
		if err != nil || n == 0 {
			return // EOF: the client is gone
		}
		if flags&unix.MSG_TRUNC != 0 {
			sendError(c, 0, fmt.Sprintf("message longer than %d bytes: dropped", appwire.MaxMessage))
			continue
		}
		h, body, err := appwire.Parse(buf[:n])
		if err != nil {
			sendError(c, appwire.FlagFatal, err.Error())
			return
		}
		if h.Type != appwire.TypeSend {
			sendError(c, appwire.FlagFatal, fmt.Sprintf("message type %d: after hello only send (%d) is accepted", h.Type, appwire.TypeSend))
			return
		}
		if err := sendWaiting(ss.x, body); err != nil {
			// Transient refusals are counted by the block; tell the client
			// at most once a second.
			if errors.Is(err, sockexport.ErrTooLong) || errors.Is(err, sockexport.ErrTap) || time.Since(lastErr) > time.Second {
				lastErr = time.Now()
				sendError(c, 0, err.Error())
			}
		}
	}
}

// noFrameWait bounds how long a client's frame waits for a spare UMEM
// frame: ten of the workers' default poll timeouts, within which a running
// worker tops its spare ring up.
const noFrameWait = 100 * time.Millisecond

// sendWaiting sends body, waiting (up to noFrameWait) while no worker has a
// spare UMEM frame. Not reading the client's socket meanwhile pushes back
// on the client, whose sends block, instead of dropping its frames: a
// sender faster than the workers recycle frames is slowed down, not cut.
func sendWaiting(x *sockexport.Export, body []byte) error {
	err := x.Send(body)
	for d, waited := 20*time.Microsecond, time.Duration(0); errors.Is(err, sockexport.ErrNoFrame) && waited < noFrameWait; d = min(2*d, time.Millisecond) {
		time.Sleep(d)
		waited += d
		err = x.Send(body)
	}
	return err
}

// insertTap puts a tap (socket-export tap=true) below block, between it and
// whatever feeds it, in one transaction; it returns the tap's name.
func (s *DataServer) insertTap(block string, opts map[string]string) (string, error) {
	s.rt.mu.Lock()
	defer s.rt.mu.Unlock()
	if s.rt.closed {
		return "", ErrClosed
	}
	var below string
	var hooked, found bool
	var names []string
	s.rt.eng.View(func(g *engine.Graph) {
		if _, err := g.Block(block); err != nil {
			return
		}
		found = true
		hooked = g.Hooked() == block
		for _, b := range config.Snapshot(g).Bindings {
			if b.Above == block {
				below = b.Below
			}
		}
		names = g.Names()
	})
	if !found {
		return "", fmt.Errorf("capture %s: %w", block, engine.ErrNotFound)
	}
	s.mu.Lock()
	var tap string
	for tap == "" || contains(names, tap) {
		s.taps++
		tap = "cap" + strconv.Itoa(s.taps)
	}
	s.mu.Unlock()
	o := map[string]string{"tap": "true"}
	for k, v := range opts {
		o[k] = v
	}
	verbs := []engine.Verb{config.AddVerb(tap, sockexport.Type, o)}
	switch {
	case below != "":
		verbs = append(verbs, verb("unbind", below, block), verb("bind", below, tap))
	case hooked:
		verbs = append(verbs, verb("unhook"), verb("hook", tap))
	}
	verbs = append(verbs, verb("bind", tap, block))
	if err := s.rt.eng.Apply(verbs...); err != nil {
		return "", fmt.Errorf("capture %s: insert tap: %w", block, err)
	}
	return tap, nil
}

// removeTap takes the tap out and rebinds block where it was.
func (s *DataServer) removeTap(tap, block string) error {
	s.rt.mu.Lock()
	defer s.rt.mu.Unlock()
	if s.rt.closed {
		return nil
	}
	var below, above string
	var hooked, found bool
	s.rt.eng.View(func(g *engine.Graph) {
		if _, err := g.Block(tap); err != nil {
			return
		}
		found = true
		hooked = g.Hooked() == tap
		for _, b := range config.Snapshot(g).Bindings {
			if b.Above == tap {
				below = b.Below
			}
			if b.Below == tap {
				above = b.Above
			}
		}
	})
	if !found {
		return nil // someone removed it already
	}
	var verbs []engine.Verb
	if above != "" {
		verbs = append(verbs, verb("unbind", tap, above))
	}
	switch {
	case below != "":
		verbs = append(verbs, verb("unbind", below, tap))
	case hooked:
		verbs = append(verbs, verb("unhook"))
	}
	verbs = append(verbs, verb("rm", tap))
	switch {
	case below != "" && above != "":
		verbs = append(verbs, verb("bind", below, above))
	case hooked && above != "":
		verbs = append(verbs, verb("hook", above))
	}
	_ = block
	return s.rt.eng.Apply(verbs...)
}

func verb(op string, args ...string) engine.Verb { return engine.Verb{Op: op, Args: args} }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
