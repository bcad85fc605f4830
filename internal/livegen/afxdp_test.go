package livegen_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/lana-net/lana/internal/livegen"
	"github.com/lana-net/lana/internal/testbed"
	"github.com/lana-net/lana/internal/xdpcount"
)

// TestAFXDPCountPaced sends a count that is a multiple of neither the chunk
// nor the UMEM through the xsk TX ring and checks that XDP_DROP on the peer
// counts exactly that many frames, no more arriving later.
func TestAFXDPCountPaced(t *testing.T) {
	p := testbed.New(t, testbed.Options{})
	quiet(t, p)
	drop := attach(t, p, xdpcount.Drop)
	const n = 50_021
	g, err := livegen.NewAFXDP(livegen.Config{
		Ifindex: p.IndexA, Do: doA(p), CPU: 0,
		Frame: spec(p, 3), Count: n, Pace: drop.Consumed,
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := g.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != n || res.Mode != "afxdp" || res.RefusedKnown {
		t.Fatalf("sent %d, want %d (%+v)", res.Sent, n, res)
	}
	waitCount(t, drop, n)
	time.Sleep(20 * time.Millisecond)
	if got, _ := drop.Count(); got != n {
		t.Fatalf("IfB counted %d frames, want exactly %d (%+v)", got, n, res)
	}
	if res.Consumed == 0 || res.Consumed > n {
		t.Errorf("pace advanced by %d during the run, want 1..%d", res.Consumed, n)
	}
	t.Logf("%+v (socket mode %v)", res, g.Mode())
}

// TestAFXDPFramesArriveIntact captures sequenced frames (UDP over several
// flows, then vlink) sent by the afxdp generator and compares every byte with
// the frame the frames package builds for that sequence number: the UMEM
// frames are reused many times over (n is far above the UMEM's 2048 frames),
// so a stale sequence number or a flow mix-up would show.
func TestAFXDPFramesArriveIntact(t *testing.T) {
	for _, vlink := range []bool{false, true} {
		p := testbed.New(t, testbed.Options{})
		quiet(t, p)
		pass := attach(t, p, xdpcount.Pass)
		fd := capture(t, p)
		const n = 5000
		s := spec(p, 5)
		s.Size = 128
		s.Vlink, s.VlinkPort = vlink, 42
		g, err := livegen.NewAFXDP(livegen.Config{
			Ifindex: p.IndexA, Do: doA(p), CPU: -1, Frame: s, Count: n,
			Pace: pass.Consumed, Outstanding: 64,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res, err := g.Run(context.Background()); err != nil || res.Sent != n {
			t.Fatalf("run: %+v, %v", res, err)
		}
		checkCapture(t, fd, s, n)
	}
}

// TestAFXDPStopsOnDuration checks that an unpaced, uncounted run ends with
// its duration and with every descriptor completed.
func TestAFXDPStopsOnDuration(t *testing.T) {
	p := testbed.New(t, testbed.Options{})
	quiet(t, p)
	drop := attach(t, p, xdpcount.Drop)
	g, err := livegen.NewAFXDP(livegen.Config{
		Ifindex: p.IndexA, Do: doA(p), CPU: 0, Frame: spec(p, 1), Duration: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := g.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("run took %v for a 200ms duration", d)
	}
	got := waitCount(t, drop, res.Sent)
	if res.Sent == 0 || got == 0 || got > res.Sent {
		t.Fatalf("sent %d, peer counted %d", res.Sent, got)
	}
	t.Logf("unpaced: sent %d, counted %d (%.0f pps)", res.Sent, got, res.PPS)
}

func TestAFXDPConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  livegen.Config
	}{
		{"no ifindex", livegen.Config{}},
		{"negative queue", livegen.Config{Ifindex: 1, Queue: -1}},
		{"chunk over ring", livegen.Config{Ifindex: 1, Chunk: 4096}},
	} {
		if _, err := livegen.NewAFXDP(tc.cfg); !errors.Is(err, livegen.ErrConfig) {
			t.Errorf("%s: err %v, want ErrConfig", tc.name, err)
		}
	}
}

// TestAFXDPSendDoesNotAllocate runs the generator unpaced (a pace function
// would bring its own allocations) and checks that the allocations of a run
// do not grow with the frames sent: the set-up allocates, the data path not.
func TestAFXDPSendDoesNotAllocate(t *testing.T) {
	p := testbed.New(t, testbed.Options{})
	quiet(t, p)
	drop := attach(t, p, xdpcount.Drop)
	run := func(count uint64) uint64 {
		g, err := livegen.NewAFXDP(livegen.Config{
			Ifindex: p.IndexA, Do: doA(p), CPU: 0, Frame: spec(p, 4), Count: count, Rate: 500_000,
		})
		if err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if res, err := g.Run(context.Background()); err != nil || res.Sent != count {
			t.Fatalf("run: %+v, %v", res, err)
		}
		runtime.ReadMemStats(&after)
		return after.Mallocs - before.Mallocs
	}
	small, large := run(1000), run(100_000)
	t.Logf("allocations: %d for 1000 frames, %d for 100000 (peer counted %d)", small, large, drop.Consumed())
	if large > small+100 {
		t.Errorf("a run of 100000 frames allocated %d times, one of 1000 frames %d: the data path allocates", large, small)
	}
}
