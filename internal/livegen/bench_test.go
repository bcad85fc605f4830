package livegen_test

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lana-net/lana/internal/livegen"
	"github.com/lana-net/lana/internal/testbed"
	"github.com/lana-net/lana/internal/xdpcount"
)

// benchPair makes a pair with xdpcount.Drop on IfB and B's NAPI threaded and
// pinned to CPU 1; the generator runs on CPU 0.
func benchPair(b *testing.B) (*testbed.Pair, *xdpcount.Counter) {
	p := testbed.New(b, testbed.Options{})
	quiet(b, p)
	drop := attach(b, p, xdpcount.Drop)
	pids, err := p.ThreadNAPI()
	if err != nil {
		b.Fatal(err)
	}
	var set unix.CPUSet
	set.Set(1)
	for _, pid := range pids {
		if err := unix.SchedSetaffinity(pid, &set); err != nil {
			b.Fatalf("pin NAPI thread %d: %v", pid, err)
		}
	}
	return p, drop
}

// benchGen runs one generator per iteration for a fixed slice of time and
// reports the rate IfB's XDP_DROP program counted, over the generator's
// elapsed time: for xdp-live that includes the ~30 ms teardown of its one
// BPF_PROG_RUN call, hence slices of a second.
func benchGen(b *testing.B, mode string, cfg livegen.Config) {
	b.ReportAllocs()
	const slice = time.Second
	var received, sent, skipped uint64
	var busy time.Duration
	drop := cfg.Pace
	for b.Loop() {
		cfg.Duration = slice
		var g livegen.Generator
		var err error
		if mode == "xdp-live" {
			g, err = livegen.NewXDPLive(cfg)
		} else {
			g, err = livegen.NewAFPacket(cfg)
		}
		if err != nil {
			b.Fatal(err)
		}
		before := drop()
		res, err := g.Run(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		received += drop() - before
		sent += res.Sent
		skipped += res.Skipped
		busy += res.Elapsed
	}
	b.ReportMetric(float64(received)/busy.Seconds()/1e6, "Mpps")
	b.ReportMetric(float64(sent)/busy.Seconds()/1e6, "sent-Mpps")
	if sent > 0 {
		b.ReportMetric(float64(skipped)/float64(sent), "skips/frame")
	}
}

func BenchmarkLiveGen(b *testing.B) {
	p, drop := benchPair(b)
	benchGen(b, "xdp-live", livegen.Config{
		Ifindex: p.IndexA, Do: doA(p), CPU: 0, Frame: spec(p, 4),
		Pace: drop.Consumed, PaceMap: drop.Map(),
	})
}

func BenchmarkAFPacketGen(b *testing.B) {
	p, drop := benchPair(b)
	benchGen(b, "afpacket", livegen.Config{
		Ifindex: p.IndexA, Do: doA(p), CPU: 0, Frame: spec(p, 4),
		Pace: drop.Consumed,
	})
}
