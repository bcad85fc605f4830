package livegen_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lana-net/lana/internal/frames"
	"github.com/lana-net/lana/internal/livegen"
	"github.com/lana-net/lana/internal/testbed"
	"github.com/lana-net/lana/internal/xdpcount"
	"github.com/vishvananda/netlink"
)

// attach attaches a counting program of action to IfB and detaches it when
// t ends.
func attach(t testing.TB, p *testbed.Pair, action xdpcount.Action) *xdpcount.Counter {
	t.Helper()
	var c *xdpcount.Counter
	err := p.Do(testbed.B, func() (err error) {
		c, err = xdpcount.Attach(action, p.IndexB)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close counter: %v", err)
		}
	})
	return c
}

// spec returns frames from A to B of p.
func spec(p *testbed.Pair, flows int) frames.Spec {
	return frames.Spec{
		SrcMAC: p.MACA, DstMAC: p.MACB,
		SrcIP: p.AddrA.Addr(), DstIP: p.AddrB.Addr(),
		Flows: flows, Seq: true,
	}
}

// quiet disables IPv6 on IfA so its stack sends no router solicitations or
// MLD reports that the counters on IfB would count as well.
func quiet(t testing.TB, p *testbed.Pair) {
	t.Helper()
	err := p.Do(testbed.A, func() error {
		return os.WriteFile("/proc/sys/net/ipv6/conf/"+p.IfA+"/disable_ipv6", []byte("1"), 0)
	})
	if err != nil {
		t.Fatalf("disable IPv6 on %s: %v", p.IfA, err)
	}
}

func doA(p *testbed.Pair) func(func() error) error {
	return func(fn func() error) error { return p.Do(testbed.A, fn) }
}

// waitCount polls c until it reaches want or a second passes, and returns
// the last count.
func waitCount(t testing.TB, c *xdpcount.Counter, want uint64) uint64 {
	t.Helper()
	var got uint64
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		var err error
		if got, err = c.Count(); err != nil {
			t.Fatal(err)
		}
		if got >= want {
			break
		}
	}
	return got
}

func TestXDPLiveCountPaced(t *testing.T) {
	p := testbed.New(t, testbed.Options{})
	quiet(t, p)
	drop := attach(t, p, xdpcount.Drop)
	const n = 100_003 // not a multiple of the chunk
	g, err := livegen.NewXDPLive(livegen.Config{
		Ifindex: p.IndexA, Do: doA(p), CPU: 0,
		Frame: spec(p, 4), Count: n, Pace: drop.Consumed, PaceMap: drop.Map(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	res, err := g.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != n {
		t.Fatalf("sent %d, want %d", res.Sent, n)
	}
	// Wait for the tail, then make sure nothing beyond n arrives.
	waitCount(t, drop, n)
	time.Sleep(20 * time.Millisecond)
	if got, _ := drop.Count(); got != n {
		t.Fatalf("IfB counted %d frames, want exactly %d (%+v)", got, n, res)
	}
	t.Logf("%+v", res)
}

// TestXDPLiveStops checks that one long BPF_PROG_RUN call still ends on
// time: on the duration, on the context, and exactly at an unpaced count
// (one call of Count iterations).
func TestXDPLiveStops(t *testing.T) {
	p := testbed.New(t, testbed.Options{})
	quiet(t, p)
	drop := attach(t, p, xdpcount.Drop)
	run := func(t *testing.T, cfg livegen.Config, ctx context.Context) livegen.Result {
		t.Helper()
		cfg.Ifindex, cfg.Do, cfg.CPU, cfg.Frame = p.IndexA, doA(p), 0, spec(p, 4)
		g, err := livegen.NewXDPLive(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		start := time.Now()
		before, err := drop.Count()
		if err != nil {
			t.Fatal(err)
		}
		res, err := g.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// A call that ignored the stop would run for minutes.
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("run took %v: %+v", d, res)
		}
		got := waitCount(t, drop, before+res.Sent) - before
		if res.Sent == 0 || got != res.Sent {
			t.Fatalf("sent %d, IfB counted %d: %+v", res.Sent, got, res)
		}
		return res
	}
	t.Run("duration", func(t *testing.T) {
		res := run(t, livegen.Config{Duration: 100 * time.Millisecond, Pace: drop.Consumed, PaceMap: drop.Map()}, context.Background())
		if res.Elapsed < 100*time.Millisecond {
			t.Fatalf("stopped after %v, before the 100ms duration", res.Elapsed)
		}
	})
	t.Run("context", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		run(t, livegen.Config{Pace: drop.Consumed, PaceMap: drop.Map()}, ctx)
	})
	t.Run("count", func(t *testing.T) {
		// Unpaced, every iteration sends: one call of exactly n
		// iterations, few enough for the peer's 256-slot ring.
		const n = 200
		if res := run(t, livegen.Config{Count: n}, context.Background()); res.Sent != n {
			t.Fatalf("sent %d, want %d", res.Sent, n)
		}
	})
	t.Run("count at a rate", func(t *testing.T) {
		// Waiting iterations make the call's length unknowable: the
		// watcher ends it at the count.
		const n = 50_000
		// Paced as well: a rate limiter catching up after a preemption
		// sends a burst that can overflow the peer's ring.
		cfg := livegen.Config{Count: n, Rate: 1_000_000, Pace: drop.Consumed, PaceMap: drop.Map()}
		if res := run(t, cfg, context.Background()); res.Sent != n {
			t.Fatalf("sent %d, want %d", res.Sent, n)
		}
	})
}

// TestPacedRunStallsWhenFramesAreLost paces each generator on a receiver
// whose link is down: every frame is lost on the way, the receiver's count
// never moves, and the run must end with ErrStalled instead of waiting for
// ever.
func TestPacedRunStallsWhenFramesAreLost(t *testing.T) {
	p := testbed.New(t, testbed.Options{})
	quiet(t, p)
	drop := attach(t, p, xdpcount.Drop)
	err := p.Do(testbed.B, func() error {
		l, err := netlink.LinkByName(p.IfB)
		if err != nil {
			return err
		}
		return netlink.LinkSetDown(l)
	})
	if err != nil {
		t.Fatal(err)
	}
	const stall = 300 * time.Millisecond
	for _, mode := range []string{"xdp-live", "afpacket", "afxdp"} {
		t.Run(mode, func(t *testing.T) {
			cfg := livegen.Config{Ifindex: p.IndexA, Do: doA(p), CPU: 0, Frame: spec(p, 2),
				Count: 10_000, Pace: drop.Consumed, PaceMap: drop.Map(), Stall: stall}
			var g interface {
				Run(context.Context) (livegen.Result, error)
			}
			var err error
			switch mode {
			case "xdp-live":
				var x *livegen.XDPLive
				x, err = livegen.NewXDPLive(cfg)
				if x != nil {
					defer x.Close()
				}
				g = x
			case "afpacket":
				cfg.PaceMap = nil
				g, err = livegen.NewAFPacket(cfg)
			default:
				cfg.PaceMap = nil
				var x *livegen.AFXDP
				x, err = livegen.NewAFXDP(cfg)
				if x != nil {
					defer x.Close()
				}
				g = x
			}
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			res, err := g.Run(context.Background())
			took := time.Since(start)
			if !errors.Is(err, livegen.ErrStalled) {
				t.Fatalf("run ended with %v after %v (%+v), want ErrStalled", err, took, res)
			}
			if took < stall || took > 5*time.Second || res.Sent > livegen.DefaultOutstanding || res.Consumed != 0 {
				t.Fatalf("stalled after %v with %+v: want at least %v, at most %d frames sent and none taken", took, res, stall, livegen.DefaultOutstanding)
			}
			// AF_PACKET learns of the down link: the kernel refuses its
			// frames. The others fill their places in flight and wait.
			want := "the receiver took 0"
			if mode == "afpacket" {
				want = "the kernel refused every frame"
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not say %q", err, want)
			}
			t.Logf("%v after %v", err, took)
		})
	}
}
