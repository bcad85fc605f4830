package livegen

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/lana-net/lana/internal/frames"
	"github.com/lana-net/lana/internal/goyield"
)

// Generator puts frames on an interface. Run blocks until the count, the
// duration or ctx ends the run; Sent may be polled from any other goroutine
// meanwhile (for a progress line). A Generator runs once.
type Generator interface {
	Run(ctx context.Context) (Result, error)
	// Sent returns the frames handed to the kernel so far.
	Sent() uint64
}

// Result summarises a run.
type Result struct {
	// Mode names the generator ("xdp-live", "afxdp", "afpacket").
	Mode string `json:"mode"`
	// Sent is the number of frames handed to the kernel for transmission.
	Sent uint64 `json:"sent"`
	// Bytes is Sent times the frame length (without FCS).
	Bytes uint64 `json:"bytes"`
	// Elapsed is the wall time from the first send to the last.
	Elapsed time.Duration `json:"elapsed_ns"`
	// PPS is Sent / Elapsed.
	PPS float64 `json:"pps"`
	// Refused counts frames the kernel refused to transmit, when
	// RefusedKnown; see each generator's doc for what it can observe.
	Refused      uint64 `json:"refused"`
	RefusedKnown bool   `json:"refused_known"`
	// Consumed is how far the Pace function advanced during the run (0
	// without Pace).
	Consumed uint64 `json:"consumed"`
	// Skipped counts xdp-live program runs that sent nothing because the
	// receiver was behind or the rate limit said wait.
	Skipped uint64 `json:"skipped,omitempty"`
}

// Defaults for Config's zero fields.
const (
	DefaultOutstanding = 128
	DefaultChunk       = 64
	DefaultBatchSize   = 256
	DefaultStall       = 2 * time.Second
)

// Errors returned by the generators.
var (
	// ErrConfig: an invalid Config field.
	ErrConfig = errors.New("invalid generator config")
	// ErrNotBuilt: the requested mode does not exist yet.
	ErrNotBuilt = errors.New("generator mode not built yet")
	// ErrStalled: a run made no progress for Config.Stall: a paced run's
	// receiver took no frame, or the kernel refused every frame.
	ErrStalled = errors.New("generator stalled")
)

// Config configures a generator. Fields without a default must be set.
type Config struct {
	// Ifindex is the interface to transmit on, as seen in the namespace Do
	// enters.
	Ifindex int
	// Queue is the TX queue the afxdp generator's socket binds to (default
	// 0); the other modes let the kernel choose.
	Queue int
	// Do runs fn on a locked OS thread inside the namespace of Ifindex
	// (testbed.Pair.Do, testbed.DoIn). Nil runs fn on a locked thread in
	// the caller's namespace.
	Do func(fn func() error) error
	// CPU is the CPU the sending thread is pinned to; -1 leaves it
	// unpinned. The thread's previous affinity is restored afterwards.
	CPU int
	// Frame describes the frames sent: frame i of the run belongs to flow
	// i%Frame.Flows and, with Frame.Seq, carries sequence number i.
	Frame frames.Spec
	// Count stops the run after this many frames (0: no limit).
	Count uint64
	// Duration stops the run after this long (0: no limit). With neither
	// Count nor Duration the run lasts until ctx ends.
	Duration time.Duration
	// Rate limits the send rate in frames per second (0: flat out).
	Rate uint64
	// Pace, when set, returns how many frames the receiver has consumed so
	// far (for example xdpcount.Counter.Consumed); the generator then keeps
	// at most Outstanding frames in flight. It is called on the sending
	// thread only.
	Pace func() uint64
	// PaceMap is the kernel map Pace reads: a per-CPU array whose slot 0
	// starts with a u64 count (xdpcount.Counter.Map), or a plain array whose
	// slot 0 does (a userspace receiver's count, published through a
	// BPF_F_MMAPABLE mapping: rxbench.PaceCounter). xdp-live paces inside
	// its XDP program with it, because one BPF_PROG_RUN call costs far too
	// much to send small chunks; it needs Pace as well, for the baseline.
	PaceMap *ebpf.Map
	// Outstanding bounds sent-minus-consumed under Pace (default 128: half
	// a veth ring, so the receiver never drops and never contends with the
	// sender for its ring).
	Outstanding uint64
	// Stall ends a paced run with ErrStalled once the generator has waited
	// this long for the receiver's count to move (default DefaultStall).
	// Frames lost between the two (a full ring, a link down, a receiver
	// gone) never free their places in flight, so without it such a run
	// would wait for ever. Paced or not, a run also ends with ErrStalled
	// when the kernel has refused every frame for this long (afxdp and
	// afpacket).
	Stall time.Duration
	// Chunk is the number of frames sent per system call (default 64).
	Chunk uint32
	// BatchSize is the live-frames batch (BPF_PROG_RUN batch_size, at most
	// 256); xdp-live only. Unpaced the default is 256 (fewest flushes per
	// frame). Paced it must be a power of two no larger than Outstanding,
	// and the default is the largest one up to Outstanding/2 (64 for the
	// default Outstanding): the program waits at the start of a batch until
	// a whole batch may go (see the package doc).
	BatchSize uint32
}

func (c Config) withDefaults() Config {
	if c.Outstanding == 0 {
		c.Outstanding = DefaultOutstanding
	}
	if c.Chunk == 0 {
		c.Chunk = DefaultChunk
	}
	if c.Stall == 0 {
		c.Stall = DefaultStall
	}
	c.Frame = c.Frame.WithDefaults()
	return c
}

func (c Config) validate() error {
	if c.Ifindex <= 0 {
		return fmt.Errorf("%w: ifindex %d: must be positive", ErrConfig, c.Ifindex)
	}
	if c.Pace != nil && uint64(c.Chunk) > c.Outstanding {
		return fmt.Errorf("%w: chunk %d exceeds outstanding %d: a paced chunk must fit in flight",
			ErrConfig, c.Chunk, c.Outstanding)
	}
	if c.BatchSize > 256 {
		return fmt.Errorf("%w: batch size %d: must be at most 256", ErrConfig, c.BatchSize)
	}
	if c.CPU >= runtime.NumCPU() {
		return fmt.Errorf("%w: cpu %d: this machine has %d", ErrConfig, c.CPU, runtime.NumCPU())
	}
	return c.Frame.Validate()
}

// onThread runs fn on a locked thread in c's namespace, pinned to c.CPU.
func (c Config) onThread(fn func() error) error {
	pinned := func() error {
		if c.CPU < 0 {
			return fn()
		}
		var old, set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &old); err != nil {
			return fmt.Errorf("get affinity: %w", err)
		}
		set.Set(c.CPU)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return fmt.Errorf("pin to cpu %d: %w", c.CPU, err)
		}
		defer unix.SchedSetaffinity(0, &old)
		return fn()
	}
	if c.Do != nil {
		return c.Do(pinned)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return pinned()
}

// stalled is ErrStalled with the run's numbers.
func stalled(sent, count, consumed uint64, after time.Duration) error {
	return fmt.Errorf("%w: sent %d frames%s, the receiver took %d and no more for %v: the frames in flight were lost on the way",
		ErrStalled, sent, countOf(count), consumed, after)
}

// countOf is " of count" for a run with a count, else "".
func countOf(count uint64) string {
	if count == 0 {
		return ""
	}
	return fmt.Sprintf(" of %d", count)
}

// loop is the pacing and stopping logic both generators share. send
// transmits n frames and returns how many it handed to the kernel.
type loop struct {
	cfg   Config
	sent  *uint64Counter
	start time.Time
	base  uint64 // Pace() when the run started
	yield goyield.Timer
}

// run calls send with chunks until the count, the deadline or ctx ends the
// run. It returns the elapsed time and the consumed advance.
func (l *loop) run(ctx context.Context, send func(n uint32) (uint32, error)) (time.Duration, uint64, error) {
	cfg := l.cfg
	if cfg.Pace != nil {
		l.base = cfg.Pace()
	}
	l.start = time.Now()
	l.yield = goyield.New()
	var deadline time.Time
	if cfg.Duration > 0 {
		deadline = l.start.Add(cfg.Duration)
	}
	var sent uint64
	var consumed uint64
	var refusedSince time.Time // since when send has taken no frame
	stop := func(now time.Time) bool {
		return ctx.Err() != nil || (!deadline.IsZero() && !now.Before(deadline))
	}
	for cfg.Count == 0 || sent < cfg.Count {
		n := cfg.Chunk
		if cfg.Count > 0 && cfg.Count-sent < uint64(n) {
			n = uint32(cfg.Count - sent)
		}
		now := time.Now()
		if stop(now) {
			break
		}
		// This goroutine is locked to its thread and never blocks in Go.
		// Without a pass through the scheduler now and then, sysmon takes
		// its P in the middle of a sendto and then wakes every 20µs on this
		// cpu (5,400 wakeups a second in the lab's afxdp row).
		l.yield.Maybe()
		if cfg.Pace != nil {
			spins := 0
			var since time.Time // when the wait began, or consumed last moved
			for {
				c := cfg.Pace() - l.base
				if c != consumed {
					consumed, since = c, time.Time{}
				}
				if consumed >= sent || sent-consumed+uint64(n) <= cfg.Outstanding {
					break
				}
				if spins++; spins%256 == 0 {
					now := time.Now()
					if stop(now) {
						break
					}
					if since.IsZero() {
						since = now
					} else if now.Sub(since) >= cfg.Stall {
						return time.Since(l.start), consumed, stalled(sent, cfg.Count, consumed, cfg.Stall)
					}
					// A Gosched of this locked goroutine wakes another
					// thread on the generator's cpu and back: at most
					// once per goyield.Every.
					l.yield.Maybe()
				}
			}
		}
		if cfg.Rate > 0 {
			due := l.start.Add(time.Duration(float64(sent) / float64(cfg.Rate) * float64(time.Second)))
			for now = time.Now(); now.Before(due); now = time.Now() {
				if wait := due.Sub(now); wait > 200*time.Microsecond {
					time.Sleep(wait - 100*time.Microsecond)
				}
			}
			// Send at most what is due now, so a low rate stays smooth.
			if cfg.Rate < uint64(cfg.Chunk)*1000 {
				n = 1
			}
		}
		if stop(time.Now()) {
			break
		}
		got, err := send(n)
		sent += uint64(got)
		l.sent.store(sent)
		if err != nil {
			return time.Since(l.start), consumed, err
		}
		if got > 0 {
			refusedSince = time.Time{}
		} else if now := time.Now(); refusedSince.IsZero() {
			refusedSince = now
		} else if now.Sub(refusedSince) >= cfg.Stall {
			return time.Since(l.start), consumed, fmt.Errorf("%w: sent %d frames%s, then the kernel refused every frame for %v (is the link down?)",
				ErrStalled, sent, countOf(cfg.Count), cfg.Stall)
		}
	}
	elapsed := time.Since(l.start)
	if cfg.Pace != nil {
		consumed = cfg.Pace() - l.base
	}
	return elapsed, consumed, nil
}

func result(mode string, sent uint64, frameLen int, elapsed time.Duration, consumed uint64) Result {
	r := Result{Mode: mode, Sent: sent, Bytes: sent * uint64(frameLen), Elapsed: elapsed, Consumed: consumed}
	if elapsed > 0 {
		r.PPS = float64(sent) / elapsed.Seconds()
	}
	return r
}
