// Package rxbench measures how many frames a receiver takes from a veth, on the
// fair testbed: the live-frames generator on one CPU, the receiver and the
// receiving veth's NAPI thread together on another, so that every receiver
// pays for its own receive work, and the generator paced on the receiver's
// own count so that the peer's 256-slot ring never overflows.
//
// A Receiver is one way of taking frames (LANA's xsk and engine, asavie/xdp,
// the kernel's XDP_DROP, the Linux stack, lanad ...). Run sets it up in
// namespace B of a testbed.Pair, drives the generator from namespace A and
// returns what was received, dropped and spent.
package rxbench

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/lana-net/lana/internal/frames"
	"github.com/lana-net/lana/internal/livegen"
	"github.com/lana-net/lana/internal/testbed"
)

// Receiver takes frames arriving on a veth end. Its methods are called in the
// order Setup, (Loop in its own goroutine, Consumed and Drops concurrently),
// Close.
type Receiver interface {
	// Name is the row name in reports.
	Name() string
	// Setup attaches programs and opens sockets on ifindex. It runs on a
	// locked thread inside the receiving namespace. When it returns the
	// receiver takes frames: an AF_XDP socket's fill ring is stocked, for
	// the generator starts before Loop has run (frames that found the fill
	// ring empty would be lost, and a paced generator waits for them).
	Setup(ifindex int) error
	// PaceMap is the per-CPU array whose slot 0 starts with a u64 count of
	// frames the receiver has taken; the generator keeps its frames in
	// flight bounded by it.
	PaceMap() *ebpf.Map
	// Loop receives until stop is closed. It runs on a locked OS thread
	// pinned to the receive CPU. Receivers that live in the kernel return
	// at once.
	Loop(stop <-chan struct{}) error
	// Consumed is the number of frames taken so far; any goroutine.
	Consumed() (uint64, error)
	// Drops are the receiver's drop counters so far; any goroutine.
	Drops() (Drops, error)
	// Close releases everything Setup made.
	Close() error
}

// ThreadReporter is implemented by a Receiver whose receive loop runs on a
// thread of its own rather than in Loop (a lanad process, whose worker
// receives while Loop only waits). Run asks for the threads once the
// warm-up is over, to split the receive CPU's time between them.
type ThreadReporter interface {
	// ReceiveThreads returns the receive loop's thread id (0: Loop's own
	// thread, as for receivers that do not report) and the ids of the
	// receiver's other threads, whichever CPU they run on.
	ReceiveThreads() (loop int, others []int, err error)
}

// Drops are the places a receiver can lose frames.
type Drops struct {
	// FillRingEmpty counts frames the kernel could not deliver because the
	// AF_XDP fill ring was empty.
	FillRingEmpty uint64 `json:"fill_ring_empty"`
	// RingFull counts frames dropped because the AF_XDP RX ring was full.
	RingFull uint64 `json:"ring_full"`
	// Other counts frames lost for any other reason the receiver sees.
	Other uint64 `json:"other"`
}

// Total is the sum of all drops.
func (d Drops) Total() uint64 { return d.FillRingEmpty + d.RingFull + d.Other }

func (d Drops) sub(o Drops) Drops {
	return Drops{d.FillRingEmpty - o.FillRingEmpty, d.RingFull - o.RingFull, d.Other - o.Other}
}

// Options shape one measurement.
type Options struct {
	// Warmup runs before the measured window (default 300ms).
	Warmup time.Duration
	// Window is the measured time (default 2s).
	Window time.Duration
	// GenCPU and RxCPU are the generator's CPU and the receiver's, shared
	// with the receiving NAPI thread (defaults 0 and 1).
	GenCPU, RxCPU int
	// Frame describes the frames (default: 64-byte UDP, 4 flows); MACs are
	// filled in from the pair.
	Frame frames.Spec
	// Outstanding bounds the frames in flight (default livegen's, 128).
	Outstanding uint64
	// During, if set, runs in its own goroutine during the measured window
	// and must return when ctx ends (for example, reconfigure a graph);
	// ctx's deadline is the window's end.
	During func(ctx context.Context) error
	// Phases, when During is set and Phases is 2 or more, splits the window
	// into that many equal phases and runs During in half of them, each
	// time with ctx's deadline at the phase's end. The phases follow the
	// Thue-Morse sequence (still, During, During, still, During, still,
	// still, During, ...): over 4 or 8 phases both halves sit, on average,
	// at the same place in the window, so a drift of the machine during the
	// window weighs on both alike. Result.PPS is then the rate over the
	// During phases and Result.StillPPS over the still ones: one receiver,
	// one run, with and without During.
	Phases int
}

func (o *Options) defaults() {
	if o.Warmup == 0 {
		o.Warmup = 300 * time.Millisecond
	}
	if o.Window == 0 {
		o.Window = 2 * time.Second
	}
	if o.GenCPU == 0 && o.RxCPU == 0 {
		o.RxCPU = 1
	}
	if o.Frame.Flows == 0 {
		o.Frame.Flows = 4
	}
}

// Result is one measurement.
type Result struct {
	// Name is the receiver's.
	Name string `json:"name"`
	// Received is the frames taken in the window; PPS is Received/Window.
	Received uint64  `json:"received"`
	PPS      float64 `json:"pps"`
	// GenPPS is the generator's own rate over its whole run.
	GenPPS float64 `json:"gen_pps"`
	// TotalSent, TotalReceived and TotalDrops account for the whole run,
	// warm-up included, read once the receiver has gone quiet: every frame
	// sent is either received or counted as dropped.
	TotalSent     uint64 `json:"total_sent"`
	TotalReceived uint64 `json:"total_received"`
	TotalDrops    Drops  `json:"total_drops"`
	// Drops happened in the window.
	Drops Drops `json:"drops"`
	// StillPPS is the rate over the phases without During
	// (Options.Phases); 0 when the window was not split.
	StillPPS float64 `json:"still_pps,omitempty"`
	// Window is the measured time.
	Window time.Duration `json:"window_ns"`
	// RxCPUNsPerPacket is the CPU time of the receive work (the NAPI
	// threads, the receive loop and the receiver's other threads, from
	// /proc schedstat) per frame received.
	RxCPUNsPerPacket float64 `json:"rx_cpu_ns_per_packet"`
	// NAPINsPerPacket is the NAPI threads' part of it: the kernel's receive
	// work, XDP and the copy into the receiver's frames included.
	NAPINsPerPacket float64 `json:"napi_ns_per_packet"`
	// LoopNsPerPacket is the receive loop thread's own CPU time per frame,
	// its system calls included (0 for receivers that live in the kernel).
	LoopNsPerPacket float64 `json:"loop_ns_per_packet"`
	// OtherNsPerPacket is that of the receiver's other threads
	// (ThreadReporter; 0 for receivers that do not report them).
	OtherNsPerPacket float64 `json:"other_ns_per_packet,omitempty"`
	// RxIdle is the share of the window the receive CPU spent idle
	// (/proc/stat, to 10ms).
	RxIdle float64 `json:"rx_idle"`
}

// Run measures r on p: the generator sends from A, r receives on B.
func Run(ctx context.Context, p *testbed.Pair, r Receiver, opts Options) (res Result, err error) {
	opts.defaults()
	res.Name = r.Name()
	if err := p.Do(testbed.B, func() error { return r.Setup(p.IndexB) }); err != nil {
		return res, fmt.Errorf("%s: setup: %w", r.Name(), err)
	}
	defer func() {
		if cerr := r.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("%s: close: %w", r.Name(), cerr)
		}
	}()
	// veth has NAPI now that the receiver attached its XDP program: move
	// it into threads and pin them with the receiver.
	napi, err := p.ThreadNAPI()
	if err != nil {
		return res, err
	}
	for _, pid := range napi {
		if err := pin(pid, opts.RxCPU); err != nil {
			return res, fmt.Errorf("pin NAPI thread %d: %w", pid, err)
		}
	}

	stop := make(chan struct{})
	loopTID := make(chan int, 1)
	loopErr := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // the thread dies with the goroutine: pinning never leaks
		loopTID <- unix.Gettid()
		if err := pin(0, opts.RxCPU); err != nil {
			loopErr <- err
			return
		}
		loopErr <- r.Loop(stop)
	}()
	tid := <-loopTID
	var loopDone bool
	defer func() {
		close(stop)
		if !loopDone {
			if lerr := <-loopErr; lerr != nil && err == nil {
				err = fmt.Errorf("%s: receive loop: %w", r.Name(), lerr)
			}
		}
	}()

	spec := opts.Frame
	spec.SrcMAC, spec.DstMAC = p.MACA, p.MACB
	spec.SrcIP, spec.DstIP = p.AddrA.Addr(), p.AddrB.Addr()
	gen, err := livegen.NewXDPLive(livegen.Config{
		Ifindex:     p.IndexA,
		Do:          func(fn func() error) error { return p.Do(testbed.A, fn) },
		CPU:         opts.GenCPU,
		Frame:       spec,
		Pace:        func() uint64 { n, _ := r.Consumed(); return n },
		PaceMap:     r.PaceMap(),
		Outstanding: opts.Outstanding,
	})
	if err != nil {
		return res, fmt.Errorf("generator: %w", err)
	}
	defer gen.Close()
	genCtx, stopGen := context.WithCancel(ctx)
	genDone := make(chan error, 1)
	var genRes livegen.Result
	go func() {
		var err error
		genRes, err = gen.Run(genCtx)
		genDone <- err
	}()
	genWaited := false
	defer func() { // before gen.Close: the generator must have stopped
		stopGen()
		if !genWaited {
			<-genDone
		}
	}()

	select {
	case <-time.After(opts.Warmup):
	case err := <-genDone:
		genWaited = true
		return res, fmt.Errorf("generator stopped during warm-up: %w", err)
	case err := <-loopErr:
		loopDone = true
		return res, fmt.Errorf("%s: receive loop ended during warm-up: %w", r.Name(), err)
	}

	var during sync.WaitGroup
	duringErr := make(chan error, 1)
	th := threadSet{loop: tid, napi: napi, cpu: opts.RxCPU}
	if tr, ok := r.(ThreadReporter); ok {
		loop, others, err := tr.ReceiveThreads()
		if err != nil {
			return res, fmt.Errorf("%s: receive threads: %w", r.Name(), err)
		}
		if loop != 0 {
			th.loop = loop
		}
		th.others = others
	}
	c0, d0, cpu0, err := snapshot(r, th)
	if err != nil {
		return res, err
	}
	t0 := time.Now()
	duringCtx, stopDuring := context.WithDeadline(ctx, t0.Add(opts.Window))
	defer stopDuring()
	phased := opts.During != nil && opts.Phases >= 2
	if opts.During != nil && !phased {
		during.Add(1)
		go func() {
			defer during.Done()
			if err := opts.During(duringCtx); ignoreEnd(err) != nil {
				duringErr <- err
			}
		}()
	}
	var withPPS, stillPPS float64
	if phased {
		if withPPS, stillPPS, err = runPhases(ctx, r, t0, c0, opts); err != nil {
			return res, err
		}
	} else {
		select {
		case <-time.After(opts.Window):
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	c1, d1, cpu1, err := snapshot(r, th)
	window := time.Since(t0)
	stopDuring()
	during.Wait()
	stopGen()
	genWaited = true
	if gerr := <-genDone; gerr != nil && !errors.Is(gerr, context.Canceled) {
		return res, fmt.Errorf("generator: %w", gerr)
	}
	if err != nil {
		return res, err
	}
	select {
	case err := <-duringErr:
		return res, fmt.Errorf("during the window: %w", err)
	default:
	}
	if err := settle(r, &res, genRes.Sent); err != nil {
		return res, err
	}
	res.TotalSent, res.GenPPS = genRes.Sent, genRes.PPS
	res.Received = c1 - c0
	res.Drops = d1.sub(d0)
	res.Window = window
	res.PPS = float64(res.Received) / window.Seconds()
	if phased {
		res.PPS, res.StillPPS = withPPS, stillPPS
	}
	if res.Received > 0 {
		n := float64(res.Received)
		split := cpu1.since(cpu0)
		res.NAPINsPerPacket = float64(split.napi) / n
		res.LoopNsPerPacket = float64(split.loop) / n
		res.OtherNsPerPacket = float64(split.others) / n
		res.RxCPUNsPerPacket = float64(split.napi+split.loop+split.others) / n
		res.RxIdle = float64(split.idle) / float64(window)
	}
	return res, nil
}

// ignoreEnd returns err unless it only says that ctx ended.
func ignoreEnd(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// runPhases runs the window split into opts.Phases phases (Options.Phases),
// from t0, when r had consumed c0, and returns the rates over the During
// phases and over the still ones. Each rate is frames over the phases' own
// measured times, so a During that overruns its phase's end only shortens
// the next phase.
func runPhases(ctx context.Context, r Receiver, t0 time.Time, c0 uint64, opts Options) (during, still float64, err error) {
	var frames [2]uint64
	var took [2]time.Duration
	c, at := c0, t0
	for i := range opts.Phases {
		end := t0.Add(opts.Window * time.Duration(i+1) / time.Duration(opts.Phases))
		busy := bits.OnesCount(uint(i))%2 == 1 // Thue-Morse
		if busy {
			pctx, cancel := context.WithDeadline(ctx, end)
			err := opts.During(pctx)
			cancel()
			if err = ignoreEnd(err); err != nil {
				return 0, 0, fmt.Errorf("during phase %d: %w", i+1, err)
			}
		}
		select {
		case <-time.After(time.Until(end)):
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
		n, err := r.Consumed()
		if err != nil {
			return 0, 0, err
		}
		now, k := time.Now(), 0
		if busy {
			k = 1
		}
		frames[k] += n - c
		took[k] += now.Sub(at)
		c, at = n, now
	}
	return float64(frames[1]) / took[1].Seconds(), float64(frames[0]) / took[0].Seconds(), nil
}

// settle waits until the receiver has accounted for every frame sent
// (received or dropped), or, failing that, until its count has not moved for
// settleQuiet, then records the run's totals. A receiver that shares its CPU
// with the NAPI thread and spins (busy polling) can hold the last frames in
// flight back for tens of milliseconds, so a short quiet time is not enough.
func settle(r Receiver, res *Result, sent uint64) error {
	var n uint64
	var d Drops
	moved := time.Now()
	for start := time.Now(); time.Since(start) < settleMax; time.Sleep(5 * time.Millisecond) {
		c, err := r.Consumed()
		if err != nil {
			return err
		}
		if d, err = r.Drops(); err != nil {
			return err
		}
		if c != n {
			n, moved = c, time.Now()
		}
		if n+d.Total() >= sent || time.Since(moved) > settleQuiet {
			break
		}
	}
	res.TotalReceived, res.TotalDrops = n, d
	return nil
}

// How long settle waits for the frames in flight.
const (
	settleQuiet = 500 * time.Millisecond
	settleMax   = 3 * time.Second
)

// threadSet names the threads whose CPU time Run splits: the receive loop,
// the NAPI threads and the receiver's other threads, and the receive CPU
// whose idle time it reads.
type threadSet struct {
	loop   int
	napi   []int
	others []int
	cpu    int
}

// cpuTimes is one reading of a threadSet: nanoseconds on a CPU for the loop,
// the NAPI threads (summed) and each of the other threads that could be
// read, and the receive CPU's idle time.
type cpuTimes struct {
	loop, napi, idle uint64
	others           map[int]uint64
}

// cpuSplit is the time spent between two readings.
type cpuSplit struct{ loop, napi, others, idle uint64 }

// since returns the time spent from an earlier reading a to c. Other
// threads count only when both readings have them: a thread that started or
// ended in between is left out.
func (c cpuTimes) since(a cpuTimes) cpuSplit {
	s := cpuSplit{loop: c.loop - a.loop, napi: c.napi - a.napi, idle: c.idle - a.idle}
	for tid, t := range c.others {
		if t0, ok := a.others[tid]; ok {
			s.others += t - t0
		}
	}
	return s
}

func snapshot(r Receiver, th threadSet) (consumed uint64, d Drops, cpu cpuTimes, err error) {
	if consumed, err = r.Consumed(); err != nil {
		return
	}
	if d, err = r.Drops(); err != nil {
		return
	}
	if cpu.loop, err = onCPUNanos(th.loop); err != nil {
		return
	}
	for _, tid := range th.napi {
		var t uint64
		if t, err = onCPUNanos(tid); err != nil {
			return
		}
		cpu.napi += t
	}
	cpu.others = make(map[int]uint64, len(th.others))
	for _, tid := range th.others {
		if t, err := onCPUNanos(tid); err == nil {
			cpu.others[tid] = t
		}
	}
	cpu.idle, err = idleNanos(th.cpu)
	return
}

// onCPUNanos is the time thread tid has spent on a CPU, from
// /proc/<tid>/schedstat (first field, nanoseconds).
func onCPUNanos(tid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/schedstat")
	if err != nil {
		return 0, fmt.Errorf("cpu time of thread %d: %w", tid, err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("cpu time of thread %d: empty schedstat", tid)
	}
	return strconv.ParseUint(f[0], 10, 64)
}

// userHz is the unit of /proc/stat's times: USER_HZ, 100 on Linux.
const userHz = 100

// idleNanos is the time cpu has spent idle (idle and iowait), from
// /proc/stat, in nanoseconds to the 10ms of its unit.
func idleNanos(cpu int) (uint64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("idle time: %w", err)
	}
	prefix := "cpu" + strconv.Itoa(cpu) + " "
	for line := range strings.Lines(string(b)) {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		// cpuN user nice system idle iowait irq softirq ...
		f := strings.Fields(line)
		if len(f) < 6 {
			break
		}
		idle, err1 := strconv.ParseUint(f[4], 10, 64)
		iowait, err2 := strconv.ParseUint(f[5], 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return 0, fmt.Errorf("idle time of cpu %d: %w", cpu, err)
		}
		return (idle + iowait) * (1e9 / userHz), nil
	}
	return 0, fmt.Errorf("idle time: no line for cpu %d in /proc/stat", cpu)
}

func pin(tid, cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	return unix.SchedSetaffinity(tid, &set)
}

// Median returns the result with the median PPS of rs (the lower middle for
// an even count), and the minimum and maximum PPS.
func Median(rs []Result) (med Result, min, max float64) {
	if len(rs) == 0 {
		return Result{}, 0, 0
	}
	s := append([]Result(nil), rs...)
	sort.Slice(s, func(i, j int) bool { return s[i].PPS < s[j].PPS })
	return s[(len(s)-1)/2], s[0].PPS, s[len(s)-1].PPS
}
