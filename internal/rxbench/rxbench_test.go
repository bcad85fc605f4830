package rxbench

import (
	"context"
	"testing"
	"time"

	"github.com/lana-net/lana/engine"
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
