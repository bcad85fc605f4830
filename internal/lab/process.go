package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/lana-net/lana/api"
	"github.com/lana-net/lana/client"
	"github.com/lana-net/lana/internal/config"
	"github.com/lana-net/lana/internal/cpuset"
	"github.com/lana-net/lana/internal/pace"
	"github.com/lana-net/lana/internal/rxbench"
)

// Process is the LanadBackend that runs the real lanad daemon, one process
// per run, in the receiving namespace: one queue (0) served by one worker
// pinned to the receive CPU, copy-mode AF_XDP, every frame steered to LANA,
// and the chain as lanad's configured stack. lanad is the receiver under
// test, so all of it runs on the receive CPU: its control plane too
// (control.cpus), which otherwise would take its turns on the generator's
// CPU. The generator paces on the worker's count, which lanad publishes
// through its bench.pace_dir pin; drops come from lanad's stats API. The
// swap row has lanad replace the dummies itself (a replay), the swap-ctl
// row sends each replacement from `lanactl batch`, started on the receive
// CPU. Its rows are labelled "lanad-N".
type Process struct {
	// Lanad is the lanad binary (see LocateLanad).
	Lanad string
	// Lanactl is the lanactl binary the swap-ctl row uses (see
	// LocateLanactl).
	Lanactl string
	// Poll is lanad's poll mode (default wakeup: on a CPU shared with the
	// NAPI thread, sleeping in poll(2) measured best).
	Poll string
}

// Label implements LanadBackend.
func (Process) Label() string { return "lanad" }

// Receiver implements LanadBackend.
func (p Process) Receiver(blocks, cpu int) rxbench.Receiver {
	poll := p.Poll
	if poll == "" {
		poll = config.PollWakeup
	}
	return &lanadReceiver{bin: p.Lanad, blocks: blocks, cpu: cpu, poll: poll, ns: -1}
}

// Note implements LanadBackend.
func (p Process) Note(blocks int) string {
	poll := p.Poll
	if poll == "" {
		poll = config.PollWakeup
	}
	return fmt.Sprintf("a lanad process, %d block(s), poll %s, copy mode, worker and control plane on the receive CPU", blocks, poll)
}

// SwapNote implements LanadBackend.
func (Process) SwapNote() string { return "by lanad itself (a replay)" }

// Swapper implements LanadBackend: every period one transaction replaces
// each dummy with a fresh one (keeping state), as InProcess does in the
// engine. lanad applies them itself: a replay (api.Replay) hands it the two
// alternating transactions, the period and the phase's length, and reports
// the transactions applied, which are the swaps counted. The request comes
// from the lab's own client, once per phase; lanad's side of it runs on the
// receive CPU. The row measures the data path while its graph changes
// every period; what a client pays to send each change is the swap-ctl
// row's (ClientSwapper).
func (p Process) Swapper(r rxbench.Receiver, every time.Duration) func(ctx context.Context) error {
	lr := r.(*lanadReceiver)
	return func(ctx context.Context) error { return lr.replay(ctx, every) }
}

// ClientSwapper implements ClientSwapper: the same transactions, each sent
// by a client as it is due, through lanad's control API from `lanactl
// batch` (one stream, one line per transaction), started on the receive
// CPU. The lab writes a line to lanactl's stdin every period; the swaps
// counted are those lanactl reports applied.
func (p Process) ClientSwapper(r rxbench.Receiver, every time.Duration) func(ctx context.Context) error {
	lr := r.(*lanadReceiver)
	return func(ctx context.Context) error {
		if p.Lanactl == "" {
			return ErrNoLanactl
		}
		return lr.swapWith(ctx, p.Lanactl, every)
	}
}

// lanadReceiver is an rxbench.Receiver backed by a lanad process.
type lanadReceiver struct {
	bin       string
	blocks    int
	cpu       int
	poll      string
	dir       string // temporary: config, control socket
	paceDir   string // lanad's bench.pace_dir, on bpffs
	cmd       *exec.Cmd
	log       bytes.Buffer  // lanad's stderr and stdout; read after done
	done      chan struct{} // closed when lanad exited
	waitErr   error         // lanad's exit; read after done
	ns        netns.NsHandle
	ifindex   int
	cl        *client.Client
	pace      *pace.Counter
	swaps     atomic.Int64
	closeOnce sync.Once
	closeErr  error
}

// paceSeq makes pace directories unique within the lab's process.
var paceSeq atomic.Uint32

func (l *lanadReceiver) Name() string { return fmt.Sprintf("lanad-%d", l.blocks) }

// stack is the chain as lanad's stack: the names the in-process engine uses.
func (l *lanadReceiver) stack() config.Stack {
	names, types := rxbench.Chain(l.blocks)
	var s config.Stack
	for i := range names {
		s.Blocks = append(s.Blocks, config.Block{Name: names[i], Type: types[i]})
		if i > 0 {
			s.Bindings = append(s.Bindings, config.Binding{Below: names[i-1], Above: names[i]})
		}
	}
	s.Hook = names[0]
	return s
}

// Setup implements rxbench.Receiver. It runs on rxbench's thread inside
// the receiving namespace, and lanad is forked from that thread, so lanad
// starts in that namespace while keeping the lab's mount namespace: the
// pace pin lanad makes under /sys/fs/bpf is the one the lab opens (`ip
// netns exec` would give lanad a private /sys, and its pin would be out of
// the lab's sight).
func (l *lanadReceiver) Setup(ifindex int) (err error) {
	defer func() {
		if err != nil {
			err = errors.Join(err, l.Close())
		}
	}()
	if l.bin == "" {
		return errors.New("lanad: no binary (see LocateLanad)")
	}
	nif, err := net.InterfaceByIndex(ifindex)
	if err != nil {
		return fmt.Errorf("receiving interface: %w", err)
	}
	l.ifindex = ifindex
	if l.ns, err = netns.Get(); err != nil {
		return fmt.Errorf("receiving namespace: %w", err)
	}
	if l.dir, err = os.MkdirTemp("", "lanabench-lanad-"); err != nil {
		return err
	}
	l.paceDir = filepath.Join(pace.BPFFS, fmt.Sprintf("lanabench-%d-%d", os.Getpid(), paceSeq.Add(1)))
	f := &config.File{
		Interfaces: []config.Interface{{Name: nif.Name, Queues: config.Queues{List: []int{0}},
			CPUs: []int{l.cpu}, Steering: "all", XSKMode: "copy"}},
		Control: config.Control{CPUs: []int{l.cpu}},
		Poll:    l.poll, VectorSize: rxbench.Batch, Frames: rxbench.FrameCount, FrameSize: rxbench.FrameSize,
		Bench: &config.Bench{PaceDir: l.paceDir},
		Stack: l.stack(),
	}
	data, err := config.Marshal(f)
	if err != nil {
		return err
	}
	cfgPath, sock := filepath.Join(l.dir, "lanad.yaml"), l.sock()
	if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
		return err
	}
	l.cmd = exec.Command(l.bin, "--config", cfgPath, "--socket", sock, "--data-socket", "none")
	l.cmd.Stdout, l.cmd.Stderr = &l.log, &l.log
	// If the lab dies, lanad drains and detaches on its own.
	l.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := l.cmd.Start(); err != nil {
		l.cmd = nil
		return fmt.Errorf("start lanad: %w", err)
	}
	l.done = make(chan struct{})
	go func() { l.waitErr = l.cmd.Wait(); close(l.done) }()
	l.cl = client.New(sock)
	if err := l.ready(10 * time.Second); err != nil {
		return err
	}
	if l.pace, err = pace.Open(filepath.Join(l.paceDir, "pace0")); err != nil {
		return fmt.Errorf("lanad: %w", err)
	}
	return nil
}

// sock is lanad's control socket.
func (l *lanadReceiver) sock() string { return filepath.Join(l.dir, "lanad.sock") }

// ready waits until lanad's control API answers, or lanad exits.
func (l *lanadReceiver) ready(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := l.cl.List(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-l.done:
			return fmt.Errorf("lanad exited during start (%v): %s", l.waitErr, l.tail())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lanad did not answer within %v: %w: %s", timeout, err, l.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tail is the end of lanad's log, once it exited.
func (l *lanadReceiver) tail() string {
	select {
	case <-l.done:
	default:
		return "(lanad still running)"
	}
	s := strings.TrimSpace(l.log.String())
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}

// Swaps is the number of swap transactions lanad completed.
func (l *lanadReceiver) Swaps() int64 { return l.swaps.Load() }

func (l *lanadReceiver) PaceMap() *ebpf.Map { return l.pace.Map() }

// Loop implements rxbench.Receiver: lanad's worker receives; the loop only
// waits, and fails when lanad exits early.
func (l *lanadReceiver) Loop(stop <-chan struct{}) error {
	select {
	case <-stop:
		return nil
	case <-l.done:
		return fmt.Errorf("lanad exited (%v): %s", l.waitErr, l.tail())
	}
}

// Consumed implements rxbench.Receiver: the worker's total, read from the
// pinned pace map's memory.
func (l *lanadReceiver) Consumed() (uint64, error) { return l.pace.Load(), nil }

// Drops implements rxbench.Receiver: the socket's kernel drop counters from
// lanad's stats.
func (l *lanadReceiver) Drops() (rxbench.Drops, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := l.cl.Stats(ctx)
	if err != nil {
		return rxbench.Drops{}, fmt.Errorf("lanad stats: %w", err)
	}
	if len(st.Queues) != 1 {
		return rxbench.Drops{}, fmt.Errorf("lanad stats: %d queues, want 1", len(st.Queues))
	}
	x := st.Queues[0].XDP
	return rxbench.Drops{FillRingEmpty: x.RxFillRingEmptyDescs, RingFull: x.RxRingFull,
		Other: x.RxDropped + x.RxInvalidDescs}, nil
}

// ReceiveThreads implements rxbench.ThreadReporter: lanad's worker thread,
// from its queue stats, and lanad's other threads, from /proc.
func (l *lanadReceiver) ReceiveThreads() (loop int, others []int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := l.cl.Stats(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("lanad stats: %w", err)
	}
	if len(st.Queues) != 1 || st.Queues[0].Thread == 0 {
		return 0, nil, fmt.Errorf("lanad stats: no worker thread in %d queue(s)", len(st.Queues))
	}
	loop = st.Queues[0].Thread
	tids, err := cpuset.Threads(l.cmd.Process.Pid)
	if err != nil {
		return 0, nil, fmt.Errorf("lanad's threads: %w", err)
	}
	for _, tid := range tids {
		if tid != loop {
			others = append(others, tid)
		}
	}
	return loop, others, nil
}

// swapTxns are the swap row's two transactions: each replaces every dummy
// with a fresh one keeping its state; the new instance takes the old one's
// name, and the helper names alternate.
func (l *lanadReceiver) swapTxns() [2]api.Transaction {
	var txns [2]api.Transaction
	for gen := range txns {
		for _, b := range l.stack().Blocks {
			if b.Type != "dummy" {
				continue
			}
			nb := b.Name + "-" + string("ab"[gen])
			txns[gen].Verbs = append(txns[gen].Verbs,
				api.Verb{Op: "add", Args: []string{nb, "dummy"}},
				api.Verb{Op: "replace", Args: []string{b.Name, nb}})
		}
	}
	return txns
}

// swapLines are swapTxns as lanactl batch lines.
func (l *lanadReceiver) swapLines() [2]string {
	var lines [2]string
	for gen, t := range l.swapTxns() {
		verbs := make([]string, len(t.Verbs))
		for i, v := range t.Verbs {
			verbs[i] = v.String()
		}
		lines[gen] = strings.Join(verbs, "; ") + "\n"
	}
	return lines
}

// replay has lanad apply the swap transactions every period until ctx's
// deadline (the phase's end) and counts the transactions it applied.
func (l *lanadReceiver) replay(ctx context.Context, every time.Duration) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		return errors.New("swap replay: the phase has no end")
	}
	lasts := time.Until(deadline).Truncate(time.Millisecond)
	if lasts < every {
		return nil // too short for a swap
	}
	txns := l.swapTxns()
	// The request outlives ctx by its answer's way back: lanad ends the
	// replay itself at lasts.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lasts+5*time.Second)
	defer cancel()
	res, err := l.cl.Replay(rctx, api.Replay{Transactions: txns[:], Every: every.String(), For: lasts.String()})
	l.swaps.Add(int64(res.Applied))
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	if res.Stopped != api.ReplayFor || res.Error != nil {
		return fmt.Errorf("replay stopped early (%q) after %d swaps: %v", res.Stopped, res.Applied, res.Error)
	}
	return nil
}

// swapWith runs `lanactl batch` on the receive CPU and feeds it one swap
// line every period until ctx ends, then closes its input and counts the
// transactions it reports applied.
func (l *lanadReceiver) swapWith(ctx context.Context, lanactl string, every time.Duration) error {
	cmd := exec.Command(lanactl, "--socket", l.sock(), "--json", "batch")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := startOn(cmd, l.cpu); err != nil {
		return fmt.Errorf("start lanactl batch: %w", err)
	}
	lines := l.swapLines()
	err = everyPeriod(ctx, every, func(gen int) error {
		_, err := io.WriteString(in, lines[gen%2])
		return err
	})
	in.Close()
	werr := cmd.Wait()
	var sum struct {
		Transactions int64 `json:"transactions"`
	}
	if jerr := json.Unmarshal(out.Bytes(), &sum); jerr == nil {
		l.swaps.Add(sum.Transactions)
	}
	if werr != nil {
		return fmt.Errorf("lanactl batch: %v: %s", werr, strings.TrimSpace(errOut.String()))
	}
	return err
}

// startOn starts cmd from a thread pinned to cpu, so that the child and
// every thread it makes run there.
func startOn(cmd *exec.Cmd, cpu int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return err
	}
	one.Set(cpu)
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		return fmt.Errorf("pin to cpu %d: %w", cpu, err)
	}
	err := cmd.Start()
	if rerr := unix.SchedSetaffinity(0, &old); rerr != nil {
		// The thread must not go back to the scheduler pinned: end it
		// with the goroutine instead of unlocking.
		runtime.LockOSThread()
		return errors.Join(err, fmt.Errorf("restore thread cpus: %w", rerr))
	}
	return err
}

// Close implements rxbench.Receiver: SIGTERM, a kill after 2s, then checks
// that lanad exited cleanly and left no XDP program on the interface, and
// removes what the lab made.
func (l *lanadReceiver) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.close() })
	return l.closeErr
}

func (l *lanadReceiver) close() error {
	var errs []error
	if l.pace != nil {
		errs = append(errs, l.pace.Close())
	}
	if l.cl != nil {
		l.cl.CloseIdle()
	}
	if l.cmd != nil {
		select {
		case <-l.done:
			errs = append(errs, fmt.Errorf("lanad had exited (%v): %s", l.waitErr, l.tail()))
		default:
			l.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-l.done:
				if l.waitErr != nil {
					errs = append(errs, fmt.Errorf("lanad exit: %v: %s", l.waitErr, l.tail()))
				}
			case <-time.After(2 * time.Second):
				l.cmd.Process.Kill()
				<-l.done
				errs = append(errs, fmt.Errorf("lanad ignored SIGTERM for 2s; killed: %s", l.tail()))
			}
		}
	}
	if l.ns >= 0 {
		errs = append(errs, l.checkDetached())
		l.ns.Close()
		l.ns = -1
	}
	if l.paceDir != "" {
		if _, err := os.Stat(l.paceDir); err == nil {
			errs = append(errs, fmt.Errorf("lanad left its pace directory %s; removed", l.paceDir))
			os.RemoveAll(l.paceDir)
		}
	}
	if l.dir != "" {
		errs = append(errs, os.RemoveAll(l.dir))
	}
	return errors.Join(errs...)
}

// checkDetached fails when an XDP program is still attached to the
// receiving interface.
func (l *lanadReceiver) checkDetached() error {
	h, err := netlink.NewHandleAt(l.ns)
	if err != nil {
		return fmt.Errorf("check xdp detached: %w", err)
	}
	defer h.Close()
	link, err := h.LinkByIndex(l.ifindex)
	if err != nil {
		return fmt.Errorf("check xdp detached: %w", err)
	}
	if x := link.Attrs().Xdp; x != nil && (x.Attached || x.ProgId != 0) {
		return fmt.Errorf("xdp program %d still attached to %s after lanad exited", x.ProgId, link.Attrs().Name)
	}
	return nil
}
