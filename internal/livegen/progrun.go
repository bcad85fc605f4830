package livegen

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// testRunAttr mirrors the BPF_PROG_TEST_RUN member of union bpf_attr.
type testRunAttr struct {
	ProgFD      uint32
	Retval      uint32
	DataSizeIn  uint32
	DataSizeOut uint32
	DataIn      uint64
	DataOut     uint64
	Repeat      uint32
	Duration    uint32
	CtxSizeIn   uint32
	CtxSizeOut  uint32
	CtxIn       uint64
	CtxOut      uint64
	Flags       uint32
	CPU         uint32
	BatchSize   uint32
	_           uint32
}

// liveRun is one interruptible BPF_PROG_RUN call in live-frames mode.
//
// cilium/ebpf's Program.Run restarts a call the kernel ended with EINTR from
// scratch, which suits tests but not a generator: XDPLive makes one call last
// the whole run and ends it with a signal (see XDPLive.Run), so it needs the
// EINTR. Everything else cilium/ebpf does (loading, maps) stays with it.
type liveRun struct {
	attr testRunAttr
	data []byte
	ctx  *xdpMD
}

func newLiveRun(progFD int, data []byte, ctx *xdpMD, batch uint32) *liveRun {
	r := &liveRun{data: data, ctx: ctx}
	r.attr = testRunAttr{
		ProgFD:     uint32(progFD),
		DataSizeIn: uint32(len(data)),
		CtxSizeIn:  uint32(unsafe.Sizeof(*ctx)),
		Flags:      unix.BPF_F_TEST_XDP_LIVE_FRAMES,
		BatchSize:  batch,
	}
	return r
}

// run executes the program repeat times (each iteration one frame) and
// returns the kernel's error: unix.EINTR when a signal ended it early.
func (r *liveRun) run(repeat uint32) error {
	r.attr.Repeat = repeat
	r.attr.DataIn = uint64(uintptr(unsafe.Pointer(&r.data[0])))
	r.attr.CtxIn = uint64(uintptr(unsafe.Pointer(r.ctx)))
	_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_TEST_RUN,
		uintptr(unsafe.Pointer(&r.attr)), unsafe.Sizeof(r.attr))
	runtime.KeepAlive(r)
	if errno != 0 {
		return errno
	}
	return nil
}

// watchEvery is how often a watcher polls a long call's progress.
const watchEvery = 5 * time.Millisecond

// watcher ends a long BPF_PROG_RUN call: it polls the run's progress and,
// once the run should end (context, deadline or the poll says so), marks
// the run stopping and signals the sending thread until the sender calls
// finish. SIGURG is the signal: the Go runtime already uses it to preempt
// goroutines, so its handler ignores a stray one, and the kernel ends the
// call with EINTR.
type watcher struct {
	tid    int
	stop   atomic.Bool
	done   chan struct{} // closed by finish: the sender is out
	exited chan struct{} // closed when watch returns
	failed error         // poll's error; read after exited
}

func newWatcher(tid int) *watcher {
	return &watcher{tid: tid, done: make(chan struct{}), exited: make(chan struct{})}
}

// stopping reports whether the run should end; the sending thread checks it
// before every call.
func (w *watcher) stopping() bool { return w.stop.Load() }

// watch runs on its own goroutine until finish.
func (w *watcher) watch(ctx context.Context, deadline time.Time, poll func() (end bool, err error)) {
	defer close(w.exited)
	t := time.NewTicker(watchEvery)
	defer t.Stop()
wait:
	for {
		select {
		case <-w.done:
			return
		case <-ctx.Done():
			break wait
		case now := <-t.C:
			if !deadline.IsZero() && !now.Before(deadline) {
				break wait
			}
			end, err := poll()
			if err != nil {
				w.failed = err
				break wait
			}
			if end {
				break wait
			}
		}
	}
	w.stop.Store(true)
	pid := unix.Getpid()
	for {
		// A signal landing between two calls is lost, hence the repeat.
		unix.Tgkill(pid, w.tid, unix.SIGURG)
		select {
		case <-w.done:
			return
		case <-t.C:
		}
	}
}

// finish tells the watcher the sender is out, waits for it and returns the
// poll's error, if any.
func (w *watcher) finish() error {
	close(w.done)
	<-w.exited
	return w.failed
}
