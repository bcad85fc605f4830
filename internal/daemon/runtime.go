package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/lana-net/lana/api"
	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/internal/config"
	"github.com/lana-net/lana/internal/cpuset"
	"github.com/lana-net/lana/xsk"
)

// Errors of the runtime, besides the engine's and the config's.
var (
	// ErrBadRequest: a verb or transaction the runtime refuses before the
	// engine sees it (unknown op, options on a verb that takes none).
	ErrBadRequest = errors.New("bad request")
	// ErrClosed: the runtime is shut down.
	ErrClosed = errors.New("runtime closed")
)

// program is one interface's XDP program.
type program struct {
	ifname  string
	ifindex int
	prog    *xsk.Program
}

// queue is one NIC queue: its socket and what the API shows about it.
type queue struct {
	info  api.Queue
	sock  *xsk.Socket
	state linkState // written by the link watcher (linkwatch_linux.go)
}

// Runtime is a running configuration: programs, sockets, engine.
type Runtime struct {
	log *slog.Logger

	mu     sync.Mutex   // serialises changes; guards file and closed
	file   *config.File // host half as started; Stack as last loaded
	closed bool

	progs   []*program // immutable after Start
	queues  []*queue   // immutable after Start; index = worker
	eng     *engine.Engine
	unwatch func()
	unlink  func()     // stops the link watcher
	pace    *benchPace // config.Bench.PaceDir's counters; nil without
}

// Start brings f up. It must run in the network namespace of f's
// interfaces. On error nothing stays open or attached.
func Start(f *config.File, log *slog.Logger) (_ *Runtime, err error) {
	r := &Runtime{log: log, file: f}
	defer func() {
		if err != nil {
			r.teardown()
		}
	}()
	if r.pace, err = newBenchPace(f); err != nil {
		return nil, err
	}
	var wcs []engine.WorkerConfig
	for _, ifc := range f.Interfaces {
		nif, err := net.InterfaceByName(ifc.Name)
		if err != nil {
			return nil, fmt.Errorf("interface %s: %w", ifc.Name, err)
		}
		qs := ifc.Queues.List
		if ifc.Queues.All {
			n, err := rxQueues(ifc.Name, nif.Index)
			if err != nil {
				return nil, fmt.Errorf("interface %s: queues: %w", ifc.Name, err)
			}
			for q := range n {
				qs = append(qs, q)
			}
		}
		steer, err := config.ParseSteering(ifc.Steering)
		if err != nil {
			return nil, err
		}
		slots := xsk.DefaultProgramQueues
		for _, q := range qs {
			slots = max(slots, q+1)
		}
		prog, err := xsk.NewProgram(xsk.ProgramConfig{Steering: steer, Queues: slots})
		if err != nil {
			return nil, fmt.Errorf("interface %s: load xdp program: %w", ifc.Name, err)
		}
		p := &program{ifname: ifc.Name, ifindex: nif.Index, prog: prog}
		r.progs = append(r.progs, p)
		mode, err := prog.Attach(nif.Index)
		if err != nil {
			return nil, fmt.Errorf("interface %s: attach xdp program: %w", ifc.Name, err)
		}
		for i, q := range qs {
			sock, err := xsk.Open(nif.Index, q, xsk.Config{
				UMEM: xsk.UMEMConfig{FrameSize: f.FrameSize, FrameCount: f.Frames, FillSize: fillSize(f.Frames)},
				Mode: config.XSKMode(ifc.XSKMode),
			})
			if err != nil {
				return nil, fmt.Errorf("interface %s queue %d: open xsk socket: %w", ifc.Name, q, err)
			}
			cpu := -1
			if len(ifc.CPUs) > 0 {
				cpu = ifc.CPUs[i%len(ifc.CPUs)]
			}
			r.queues = append(r.queues, &queue{sock: sock, info: api.Queue{
				Worker: len(r.queues), Interface: ifc.Name, Ifindex: nif.Index, Queue: q, CPU: cpu,
				Poll: f.Poll, Mode: modeName(sock.Mode()), Attach: mode.String(),
			}})
			wc := engine.WorkerConfig{Queue: sock, UMEM: sock.UMEM(), QueueID: uint16(q),
				Pin: cpu >= 0, CPU: max(cpu, 0), Mode: config.PollMode(f.Poll), FillTarget: int(f.FillTarget)}
			if r.pace != nil {
				var herr error
				if wc.OnVector, herr = r.pace.hook(len(wcs)); herr != nil {
					return nil, herr
				}
			}
			wcs = append(wcs, wc)
		}
	}
	r.eng, err = engine.New(engine.Config{VectorSize: f.VectorSize, Workers: wcs, OnPanic: func(p engine.BlockPanic) {
		log.Error("block failed: it panicked and now passes packets on untouched; replace it",
			"block", p.Block, "worker", p.Worker, "panic", p.Value, "stack", string(p.Stack))
	}})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if err := r.eng.Apply(f.Stack.Verbs()...); err != nil {
		return nil, fmt.Errorf("apply stack: %w", err)
	}
	r.follow()
	if log.Enabled(context.Background(), slog.LevelDebug) { // a watcher costs the event goroutine a wakeup per transaction
		r.unwatch = r.eng.Watch(func(ev engine.Event) {
			log.Debug("event", "kind", ev.Kind.String(), "block", ev.Block, "peer", ev.Peer, "key", ev.Key, "value", ev.Value)
		})
	}
	var workerCPUs []int
	for _, q := range r.queues {
		workerCPUs = append(workerCPUs, q.info.CPU)
	}
	ctlCPUs := 0
	if want := f.Control.CPUs; len(want) > 0 {
		ctl, err := cpuset.Confine(want)
		if err != nil {
			return nil, fmt.Errorf("control.cpus: %w", err)
		}
		ctlCPUs = ctl.Count()
		var shared []int
		for _, c := range workerCPUs {
			if c >= 0 && ctl.IsSet(c) && !slices.Contains(shared, c) {
				shared = append(shared, c)
			}
		}
		log.Info("control plane confined to the configured cpus", "cpus", cpuset.List(ctl), "shared_with_workers", fmt.Sprint(shared))
	} else if ctl, err := cpuset.KeepOff(workerCPUs); err != nil {
		log.Warn("control plane shares the workers' cpus", "error", err)
	} else if ctl.Count() > 0 {
		ctlCPUs = ctl.Count()
		log.Info("control plane kept off the workers' cpus", "cpus", cpuset.List(ctl))
	}
	if ctlCPUs == 0 {
		ctlCPUs = runtime.NumCPU()
	}
	if old, n := runtime.GOMAXPROCS(0), procsFor(len(r.queues), ctlCPUs); n > old {
		if env := os.Getenv("GOMAXPROCS"); env != "" {
			log.Warn("GOMAXPROCS set in the environment is below one P per worker, one per control cpu and a spare; workers may lose their P while they sleep",
				"GOMAXPROCS", env, "want", n, "workers", len(r.queues))
		} else {
			runtime.GOMAXPROCS(n)
			log.Info("GOMAXPROCS raised: each worker keeps a P of its own", "from", old, "to", n, "workers", len(r.queues))
		}
	}
	r.eng.Start()
	for _, q := range r.queues {
		if err := r.progOf(q).Register(q.info.Queue, q.sock.FD()); err != nil {
			return nil, fmt.Errorf("interface %s queue %d: register socket: %w", q.info.Interface, q.info.Queue, err)
		}
		log.Info("queue up", "interface", q.info.Interface, "queue", q.info.Queue, "cpu", q.info.CPU,
			"xsk_mode", q.info.Mode, "attach", q.info.Attach, "poll", q.info.Poll)
	}
	if r.unlink, err = r.watchLinks(); err != nil {
		return nil, fmt.Errorf("watch links: %w", err)
	}
	return r, nil
}

// rxQueues counts the RX queues in use on an interface. sysfs lists the real
// ones (a veth allocates one per CPU but uses one unless told otherwise); it
// shows the namespace it was mounted in, so when the interface is missing
// there (lanad moved into a namespace without remounting /sys) the
// allocated count from netlink is the fallback.
func rxQueues(name string, index int) (int, error) {
	ents, err := os.ReadDir("/sys/class/net/" + name + "/queues")
	if err == nil {
		n := 0
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "rx-") {
				n++
			}
		}
		if n > 0 {
			return n, nil
		}
	}
	link, err := netlink.LinkByIndex(index)
	if err != nil {
		return 0, err
	}
	return max(link.Attrs().NumRxQueues, 1), nil
}

// procsFor is the GOMAXPROCS for a lanad with the given number of pinned
// workers and a control plane allowed on ctlCPUs cpus: one P per worker, one
// per control cpu, and one spare.
//
// A worker is a locked goroutine that is always running or asleep in
// poll(2), so it holds its P for good. When no other P is idle while a
// worker sleeps, the runtime's monitor thread (sysmon) takes that worker's P,
// and the worker wakes without one and must find another. Each such take
// also sets sysmon back to polling every 20µs, from a control cpu. On veth,
// GOMAXPROCS 2 for one worker and one control cpu cost lanad-3 7–12% of its
// rate against 3 or 4, and sysmon took about 9% of the control cpu
// (docs/performance.md). Since workers sleep without a timeout that cost
// no longer shows there (an A/B inside one lanad: 1.009, "Where a swap's
// cost goes"); the spare P stays, being the safe side of that trade.
func procsFor(workers, ctlCPUs int) int { return workers + max(ctlCPUs, 1) + 1 }

func fillSize(frames uint32) uint32 {
	n := uint32(1)
	for n < frames {
		n <<= 1
	}
	return min(2*n, xsk.MaxRingSize)
}

func modeName(m xsk.Mode) string {
	if m == xsk.ModeZeroCopy {
		return "zero-copy"
	}
	return "copy"
}

func (r *Runtime) progOf(q *queue) *xsk.Program {
	for _, p := range r.progs {
		if p.ifindex == q.info.Ifindex {
			return p.prog
		}
	}
	return nil
}

// Close drains and releases everything; it is idempotent.
func (r *Runtime) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	// Stop steering into the sockets, then let the workers empty the
	// RX rings before they stop.
	for _, q := range r.queues {
		if err := r.progOf(q).Unregister(q.info.Queue); err != nil {
			r.log.Warn("unregister socket", "interface", q.info.Interface, "queue", q.info.Queue, "err", err)
		}
	}
	r.drain(time.Second)
	return r.teardown()
}

// drain waits until no worker received a frame for 20ms, or timeout.
func (r *Runtime) drain(timeout time.Duration) {
	if r.eng == nil {
		return
	}
	sum := func() uint64 {
		var n uint64
		for i := range r.eng.Workers() {
			n += r.eng.Worker(i).Stats().RxPackets
		}
		return n
	}
	deadline := time.Now().Add(timeout)
	last := sum()
	for time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		n := sum()
		if n == last {
			return
		}
		last = n
	}
}

// teardown closes the engine, sockets and programs made so far.
func (r *Runtime) teardown() error {
	var errs []error
	if r.unwatch != nil {
		r.unwatch()
	}
	if r.unlink != nil {
		r.unlink()
	}
	if r.eng != nil {
		if err := r.eng.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close engine: %w", err))
		}
	}
	for _, q := range r.queues {
		if err := q.sock.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close socket %s/%d: %w", q.info.Interface, q.info.Queue, err))
		}
	}
	for _, p := range r.progs {
		if err := p.prog.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close xdp program on %s: %w", p.ifname, err))
		}
	}
	if r.pace != nil {
		errs = append(errs, r.pace.close())
	}
	return errors.Join(errs...)
}

// EngineVerb converts an API verb to the engine's form, refusing what the
// engine would misread (options on verbs without them, '=' in keys).
func EngineVerb(v api.Verb) (engine.Verb, error) {
	known := false
	for _, op := range api.Ops {
		known = known || op == v.Op
	}
	if !known {
		return engine.Verb{}, fmt.Errorf("verb %q: unknown (want one of %s): %w", v.Op, strings.Join(api.Ops, ", "), ErrBadRequest)
	}
	if len(v.Options) > 0 && v.Op != "add" && v.Op != "set" {
		return engine.Verb{}, fmt.Errorf("verb %q: only add and set take options: %w", v.String(), ErrBadRequest)
	}
	for k, val := range v.Options {
		// Values may hold spaces (a filter expression): verbs carry their
		// words as a list, and engine.Verb.String quotes them.
		if k == "" || strings.ContainsAny(k, "= \t\n") {
			return engine.Verb{}, fmt.Errorf("verb %q: option %q=%q: keys are words without '=' or white space: %w", v.String(), k, val, ErrBadRequest)
		}
	}
	switch {
	case v.Op == "add" && len(v.Args) >= 2:
		return config.AddVerb(v.Args[0], v.Args[1], mergeWords(v.Options, v.Args[2:])), nil
	case v.Op == "set" && len(v.Args) >= 1:
		return config.SetVerb(v.Args[0], mergeWords(v.Options, v.Args[1:])), nil
	}
	return engine.Verb{Op: v.Op, Args: append([]string(nil), v.Args...)}, nil
}

// mergeWords adds "k=v" words to opts (the engine reports malformed words).
func mergeWords(opts map[string]string, words []string) map[string]string {
	out := map[string]string{}
	for k, v := range opts {
		out[k] = v
	}
	for _, w := range words {
		k, v, _ := strings.Cut(w, "=")
		out[k] = v
	}
	return out
}

// Apply runs verbs as one transaction: all or none. The applied verbs are
// logged at info level.
func (r *Runtime) Apply(verbs []api.Verb) error { return r.apply(verbs, slog.LevelInfo) }

// apply is Apply logging the applied verbs at level.
func (r *Runtime) apply(verbs []api.Verb, level slog.Level) error {
	return r.run(r.eng.Apply, verbs, level)
}

// publish is apply without the wait for the grace period
// (engine.Engine.Publish): for a replay, which calls sync when it ends.
func (r *Runtime) publish(verbs []api.Verb, level slog.Level) error {
	return r.run(r.eng.Publish, verbs, level)
}

// sync finishes what publish deferred (engine.Engine.Sync).
func (r *Runtime) sync() error { return r.eng.Sync() }

// engineVerbs converts a transaction's verbs, naming the first it cannot.
func engineVerbs(verbs []api.Verb) ([]engine.Verb, error) {
	evs := make([]engine.Verb, 0, len(verbs))
	for i, v := range verbs {
		ev, err := EngineVerb(v)
		if err != nil {
			return nil, fmt.Errorf("verb %d: %w", i+1, err)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// run converts verbs and runs them through commit (the engine's Apply or
// Publish) as one transaction, logging them at level.
func (r *Runtime) run(commit func(...engine.Verb) error, verbs []api.Verb, level slog.Level) error {
	evs, err := engineVerbs(verbs)
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return fmt.Errorf("empty transaction: give at least one verb: %w", ErrBadRequest)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if err := commit(evs...); err != nil {
		return err
	}
	r.follow()
	// One line per transaction: one write, and the verbs that went in
	// together read together.
	if ctx := context.Background(); r.log.Enabled(ctx, level) {
		vs := make([]string, len(evs))
		for i, v := range evs {
			vs[i] = v.String()
		}
		r.log.Log(ctx, level, "applied", "verbs", strings.Join(vs, "; "))
	}
	return nil
}

// Reload makes f's stack the running stack in one transaction. f's host half
// must equal the running one. On error nothing changes.
func (r *Runtime) Reload(f *config.File) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if err := config.SameHost(r.file, f); err != nil {
		return err
	}
	var cur config.Stack
	r.eng.View(func(g *engine.Graph) { cur = config.Snapshot(g) })
	verbs := config.Diff(cur, f.Stack)
	if len(verbs) > 0 {
		if err := r.eng.Apply(verbs...); err != nil {
			return fmt.Errorf("reload: %w", err)
		}
		r.follow()
	}
	nf := *r.file
	nf.Stack = f.Stack
	r.file = &nf
	r.log.Info("reloaded", "verbs", len(verbs))
	return nil
}

// Save renders the running stack, with the host half lanad started with,
// as a configuration file.
func (r *Runtime) Save() ([]byte, error) {
	r.mu.Lock()
	f := *r.file
	r.mu.Unlock()
	r.eng.View(func(g *engine.Graph) { f.Stack = config.Snapshot(g) })
	return config.Marshal(&f)
}

// List describes the running stack and queues.
func (r *Runtime) List() api.List {
	l := api.List{Blocks: []api.Block{}, Types: engine.Types(), Bindings: []api.Binding{},
		Subscriptions: []api.Subscription{}, Queues: r.Queues()}
	r.eng.View(func(g *engine.Graph) {
		l.Hook = g.Hooked()
		s := config.Snapshot(g)
		for _, b := range s.Bindings {
			l.Bindings = append(l.Bindings, api.Binding{Below: b.Below, Above: b.Above})
		}
		for _, n := range g.Names() {
			bi, err := g.Block(n)
			if err != nil {
				continue
			}
			l.Blocks = append(l.Blocks, blockOf(bi, l.Hook))
			for _, sub := range bi.Subs {
				l.Subscriptions = append(l.Subscriptions, api.Subscription{Block: n, Subscriber: sub})
			}
		}
	})
	return l
}

func blockOf(bi engine.BlockInfo, hook string) api.Block {
	b := api.Block{Name: bi.Name, Type: bi.Type, Options: map[string]string(bi.Options), Up: bi.Up, Down: bi.Down,
		Subscribers: bi.Subs, Hooked: bi.Name == hook, Failed: bi.Failed}
	if b.Options == nil {
		b.Options = map[string]string{}
	}
	if len(bi.Outputs) > 0 {
		b.Outputs = bi.Outputs
	}
	return b
}

// Queues describes the served queues.
func (r *Runtime) Queues() []api.Queue {
	out := make([]api.Queue, len(r.queues))
	for i, q := range r.queues {
		out[i] = q.info
		out[i].State = q.state.String()
	}
	return out
}

// Show describes block name with its counters.
func (r *Runtime) Show(name string) (api.BlockDetail, error) {
	var d api.BlockDetail
	var err error
	r.eng.View(func(g *engine.Graph) {
		var bi engine.BlockInfo
		if bi, err = g.Block(name); err == nil {
			d.Block = blockOf(bi, g.Hooked())
		}
	})
	if err != nil {
		return d, err
	}
	d.Stats, err = r.blockStats(name)
	return d, err
}

func (r *Runtime) blockStats(name string) (api.BlockStats, error) {
	bs, err := r.eng.BlockStats(name)
	if err != nil {
		return api.BlockStats{}, err
	}
	out := api.BlockStats{Packets: bs.Packets, Bytes: bs.Bytes, Vectors: bs.Vectors, Drops: bs.Drops, NsPerPacket: bs.NsPerPacket, Panics: bs.Panics}
	if inst, err := r.eng.Instance(name); err == nil {
		if rep, ok := inst.(engine.Reporter); ok {
			out.Counters = rep.Counters()
		}
	}
	return out, nil
}

// Stats returns every counter: per block, per queue (with the kernel's
// XDP socket counters) and per XDP program.
func (r *Runtime) Stats() api.Stats {
	st := api.Stats{Blocks: map[string]api.BlockStats{}, Queues: []api.QueueStats{}, Programs: []api.ProgramStats{}}
	var names []string
	r.eng.View(func(g *engine.Graph) { names = g.Names() })
	for _, n := range names {
		if bs, err := r.blockStats(n); err == nil {
			st.Blocks[n] = bs
		}
	}
	for i, q := range r.queues {
		ws := r.eng.Worker(i).Stats()
		qs := api.QueueStats{Queue: q.info, RxPackets: ws.RxPackets, RxBytes: ws.RxBytes, TxPackets: ws.TxPackets,
			Vectors: ws.Vectors, Idle: ws.Idle, Polls: ws.Polls, Swaps: ws.Swaps, Yields: ws.Yields, FillTarget: ws.FillTarget, Drops: ws.Drops}
		qs.Queue.State = q.state.String()
		qs.Thread = r.pace.thread(i)
		fc := ws.Frames
		qs.Frames = api.Frames{Total: fc.Total, Free: fc.Free, Spare: fc.Spare, Kernel: fc.Kernel, InTX: fc.InTX, Held: fc.Held}
		if ks, err := q.sock.KernelStats(); err == nil {
			qs.XDP = api.XDPStats{RxDropped: ks.RxDropped, RxInvalidDescs: ks.RxInvalidDescs,
				TxInvalidDescs: ks.TxInvalidDescs, RxRingFull: ks.RxRingFull,
				RxFillRingEmptyDescs: ks.RxFillRingEmptyDescs, TxRingEmptyDescs: ks.TxRingEmptyDescs}
		}
		st.Queues = append(st.Queues, qs)
	}
	for _, p := range r.progs {
		ps := api.ProgramStats{Interface: p.ifname, Steering: p.prog.Steering().String()}
		if c, err := p.prog.Counters(); err == nil {
			ps.Redirected, ps.NotSteered, ps.NoSocket, ps.Short = c.Redirected, c.NotSteered, c.NoSocket, c.Short
		}
		st.Programs = append(st.Programs, ps)
	}
	return st
}

// schedule hands txns to the engine as one chain (engine.Schedule), the
// k-th to be published at at[k] by the workers themselves. A transaction
// joins the chain only if publishing it needs nothing of the control plane
// after the commit, which is what run's follow does: it must leave the
// steered ethertypes as they are and bring in no block that connects to
// the engine (a vlink's TAP). It returns how many were scheduled and why
// the one after them was not.
func (r *Runtime) schedule(txns [][]api.Verb, at []time.Time) (int, error) {
	ets := make([][]engine.Verb, len(txns))
	for k, verbs := range txns {
		var err error
		if ets[k], err = engineVerbs(verbs); err != nil {
			return 0, fmt.Errorf("transaction %d: %w", k+1, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, ErrClosed
	}
	var steered []uint16
	live := map[string]engine.Block{} // the connectors serving now
	r.eng.View(func(g *engine.Graph) {
		steered = g.EtherTypes()
		for _, n := range g.Names() {
			if b, err := g.Instance(n); err == nil {
				if _, ok := b.(connector); ok {
					live[n] = b
				}
			}
		}
	})
	return r.eng.Schedule(ets, at, func(g *engine.Graph) error {
		if !slices.Equal(g.EtherTypes(), steered) {
			return errors.New("it changes the steered ethertypes")
		}
		for _, n := range g.Names() {
			b, err := g.Instance(n)
			if _, ok := b.(connector); ok && err == nil && b != live[n] {
				return fmt.Errorf("block %s connects to the engine", n)
			}
		}
		return nil
	})
}

// vectors is how many vectors the workers have received in all.
func (r *Runtime) vectors() uint64 {
	var n uint64
	for i := range r.eng.Workers() {
		n += r.eng.Worker(i).Stats().Vectors
	}
	return n
}
