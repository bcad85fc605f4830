package rxbench

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/internal/frames"
	"github.com/lana-net/lana/internal/livegen"
	"github.com/lana-net/lana/internal/testbed"
	"github.com/lana-net/lana/internal/xdpcount"
)

func receivers() []func() Receiver {
	return []func() Receiver{
		func() Receiver { return &Kernel{Action: xdpcount.Drop} },
		func() Receiver { return &XSK{} },
		func() Receiver { return &Asavie{} },
		func() Receiver { return &Engine{Blocks: 1, Mode: defaultEngineMode} },
		func() Receiver { return &Engine{Blocks: 3, Mode: defaultEngineMode} },
		func() Receiver { return &Engine{Blocks: 10, Mode: defaultEngineMode} },
		func() Receiver { return &Engine{Blocks: 3, Mode: engine.PollBusy, NameMode: true} },
		func() Receiver { return &Engine{Blocks: 3, Mode: engine.PollWakeup, NameMode: true} },
		func() Receiver { return &Engine{Blocks: 3, Mode: engine.PollAdaptive, NameMode: true} },
	}
}

// defaultEngineMode is the poll mode of the lana-engine-N rows: wakeup,
// the mode that wins when the worker shares its CPU with the NAPI thread
// (see engine.PollMode), and the way lana-xsk waits as well.
const defaultEngineMode = engine.PollWakeup

// minReceived is the fewest frames r must take in TestReceiversPaced's
// window to count as working: 10,000 (a tenth under the race detector), but
// 100 for an engine in busy mode, which collapses on a CPU shared with the
// NAPI thread (engine.PollMode).
func minReceived(r Receiver) uint64 {
	if e, ok := r.(*Engine); ok && e.Mode == engine.PollBusy {
		return 100
	}
	if raceEnabled {
		return 1000
	}
	return 10000
}

// TestReceiversPaced checks the harness itself on every receiver: frames
// flow, the receive count and the generator's agree within what can be in
// flight, and pacing keeps the AF_XDP fill ring from ever running dry.
func TestReceiversPaced(t *testing.T) {
	withCounter := func() Receiver { return &Engine{Blocks: 3, Counter: true, Mode: defaultEngineMode} }
	for _, mk := range append(receivers(), withCounter) {
		r := mk()
		t.Run(r.Name(), func(t *testing.T) {
			p := testbed.New(t, testbed.Options{})
			res, err := Run(context.Background(), p, r, Options{Warmup: 100 * time.Millisecond, Window: 500 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %.0f pps received (generator %.0f pps), %.0f ns/pkt on the receive CPU; run: sent %d, received %d, drops %+v",
				res.Name, res.PPS, res.GenPPS, res.RxCPUNsPerPacket, res.TotalSent, res.TotalReceived, res.TotalDrops)
			if res.Received < minReceived(r) {
				t.Fatalf("received %d frames in %v: the receive path is broken", res.Received, res.Window)
			}
			// The receive CPU's time is split: the NAPI thread always
			// works, a receive loop in user space too, and the CPU's idle
			// share is a share.
			_, inKernel := r.(*Kernel)
			if res.NAPINsPerPacket <= 0 || (res.LoopNsPerPacket <= 0) != inKernel || res.RxIdle < 0 || res.RxIdle > 1 ||
				res.RxCPUNsPerPacket < res.NAPINsPerPacket+res.LoopNsPerPacket-0.01 {
				t.Errorf("cpu split: NAPI %.1f, loop %.1f, other %.1f, all %.1f ns/frame, idle %.3f",
					res.NAPINsPerPacket, res.LoopNsPerPacket, res.OtherNsPerPacket, res.RxCPUNsPerPacket, res.RxIdle)
			}
			if res.TotalDrops.FillRingEmpty != 0 {
				t.Errorf("fill ring ran empty %d times", res.TotalDrops.FillRingEmpty)
			}
			// An engine's counter block saw every frame the worker took.
			if e, ok := r.(*Engine); ok && e.Counter {
				p, b, err := e.Counts()
				if err != nil {
					t.Fatal(err)
				}
				if p != res.TotalReceived || b != 60*p {
					t.Errorf("counter block: %d packets, %d bytes; want %d, 60 bytes each", p, b, res.TotalReceived)
				}
			}
			// Every frame sent is received or counted as dropped.
			if got := res.TotalReceived + res.TotalDrops.Total(); got != res.TotalSent {
				t.Errorf("sent %d frames, received %d + dropped %d = %d", res.TotalSent,
					res.TotalReceived, res.TotalDrops.Total(), got)
			}
		})
	}
}

// TestRunPhases splits a window into four phases around a During that only
// records its calls: During runs in phases 2 and 3 (Thue-Morse: still,
// During, During, still), each time until its phase's end, and both halves
// report the rate of frames that really flowed.
func TestRunPhases(t *testing.T) {
	p := testbed.New(t, testbed.Options{})
	const window = 800 * time.Millisecond
	var calls []time.Duration // each call's deadline, from the first call
	var first time.Time
	during := func(ctx context.Context) error {
		d, ok := ctx.Deadline()
		if !ok {
			return errors.New("no deadline")
		}
		if first.IsZero() {
			first = time.Now()
		}
		calls = append(calls, d.Sub(first))
		<-ctx.Done()
		return ctx.Err()
	}
	res, err := Run(context.Background(), p, &XSK{}, Options{Warmup: 100 * time.Millisecond, Window: window,
		During: during, Phases: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("during phases %.0f pps, still phases %.0f pps, deadlines %v", res.PPS, res.StillPPS, calls)
	// Called for phase 2 (ending 400 ms into the window, about 200 ms
	// after the call) and phase 3 (ending 200 ms later).
	if len(calls) != 2 || calls[0] < 150*time.Millisecond || calls[0] > 210*time.Millisecond ||
		calls[1]-calls[0] < 190*time.Millisecond || calls[1]-calls[0] > 210*time.Millisecond {
		t.Errorf("During's deadlines %v: want two, at the ends of phases 2 and 3", calls)
	}
	if min := float64(minReceived(&XSK{})) / window.Seconds(); res.PPS < min || res.StillPPS < min {
		t.Errorf("rates %.0f pps during, %.0f still: want both above %.0f", res.PPS, res.StillPPS, min)
	}
	// The two halves, each about half the window, account for the
	// window's frames: no phase's frames or time went to the wrong half.
	if got, want := (res.PPS+res.StillPPS)*res.Window.Seconds()/2, float64(res.Received); math.Abs(got-want) > 0.05*want {
		t.Errorf("halves at %.0f and %.0f pps over %v make %.0f frames; the window took %.0f", res.PPS, res.StillPPS, res.Window, got, want)
	}
	// Nothing slows either half much: a receiver that does nothing
	// different in them takes frames at a like rate. The bound is wide:
	// this host's rate can halve or double within a second by itself.
	if r := res.PPS / res.StillPPS; r < 0.25 || r > 4 {
		t.Errorf("during/still = %.2f for a During that does nothing", r)
	}
}

// BenchmarkVethReceive measures each receiver on the fair veth testbed
// (generator on CPU 0; receiver and NAPI thread on CPU 1). One iteration is
// one measured window of 2 s.
func BenchmarkVethReceive(b *testing.B) {
	for _, mk := range receivers() {
		r := mk()
		b.Run(r.Name(), func(b *testing.B) {
			p := testbed.New(b, testbed.Options{})
			var last Result
			var total float64
			n := 0
			for b.Loop() {
				res, err := Run(context.Background(), p, mk(), Options{})
				if err != nil {
					b.Fatal(err)
				}
				last = res
				total += res.PPS
				n++
			}
			b.ReportMetric(total/float64(n)/1e6, "Mpps")
			b.ReportMetric(float64(last.Drops.FillRingEmpty), "fill-empty")
			b.ReportMetric(float64(last.Drops.RingFull), "ring-full")
			b.ReportMetric(last.RxCPUNsPerPacket, "rxcpu-ns/pkt")
			b.ReportMetric(last.LoopNsPerPacket, "loop-ns/pkt")
		})
	}
}

// TestSetupStocksTheFillRing sends frames to each AF_XDP receiver after
// Setup and before its Loop runs, as Run's generator may: none may find
// the fill ring empty, and Loop then takes them all.
func TestSetupStocksTheFillRing(t *testing.T) {
	for _, r := range []Receiver{&XSK{}, &Asavie{}, &Engine{Blocks: 3, Mode: defaultEngineMode}} {
		t.Run(r.Name(), func(t *testing.T) {
			p := testbed.New(t, testbed.Options{})
			if err := p.Do(testbed.B, func() error { return r.Setup(p.IndexB) }); err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			const n = 64
			gen, err := livegen.NewXDPLive(livegen.Config{Ifindex: p.IndexA, Do: func(fn func() error) error { return p.Do(testbed.A, fn) },
				CPU: -1, Frame: frames.Spec{SrcMAC: p.MACA, DstMAC: p.MACB, SrcIP: p.AddrA.Addr(), DstIP: p.AddrB.Addr()}, Count: n})
			if err != nil {
				t.Fatal(err)
			}
			defer gen.Close()
			if res, err := gen.Run(context.Background()); err != nil || res.Sent != n {
				t.Fatalf("generator: %+v, %v", res, err)
			}
			time.Sleep(50 * time.Millisecond) // the frames reach the socket, or the fill ring's emptiness
			stop, done := make(chan struct{}), make(chan error, 1)
			go func() { done <- r.Loop(stop) }()
			var got uint64
			for end := time.Now().Add(2 * time.Second); got < n && time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
				if got, err = r.Consumed(); err != nil {
					t.Fatal(err)
				}
			}
			close(stop)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			d, err := r.Drops()
			if err != nil {
				t.Fatal(err)
			}
			if got != n || d.FillRingEmpty != 0 {
				t.Fatalf("took %d of %d frames sent before Loop ran; fill ring empty %d times", got, n, d.FillRingEmpty)
			}
		})
	}
}

// TestCPUSplit: the time between two readings counts the other threads
// present in both, and the receive CPU's idle time comes from /proc/stat.
func TestCPUSplit(t *testing.T) {
	a := cpuTimes{loop: 100, napi: 1000, idle: 5, others: map[int]uint64{1: 10, 2: 20}}
	b := cpuTimes{loop: 150, napi: 1300, idle: 9, others: map[int]uint64{1: 15, 3: 99}} // 2 ended, 3 started
	if got, want := b.since(a), (cpuSplit{loop: 50, napi: 300, others: 5, idle: 4}); got != want {
		t.Errorf("split %+v, want %+v", got, want)
	}
	idle, err := idleNanos(0)
	if err != nil || idle%(1e9/userHz) != 0 {
		t.Errorf("idle time of cpu 0: %d, %v; want a multiple of 10ms", idle, err)
	}
	if _, err := idleNanos(1 << 20); err == nil {
		t.Error("idle time of a cpu that does not exist: no error")
	}
}
