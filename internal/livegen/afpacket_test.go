package livegen_test

import (
	"context"
	"testing"
	"time"

	"github.com/lana-net/lana/internal/livegen"
	"github.com/lana-net/lana/internal/testbed"
	"github.com/lana-net/lana/internal/xdpcount"
)

func TestAFPacketCountPaced(t *testing.T) {
	p := testbed.New(t, testbed.Options{})
	quiet(t, p)
	drop := attach(t, p, xdpcount.Drop)
	const n = 20_011
	g, err := livegen.NewAFPacket(livegen.Config{
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
	if res.Sent != n || !res.RefusedKnown {
		t.Fatalf("sent %d, want %d (%+v)", res.Sent, n, res)
	}
	waitCount(t, drop, n)
	time.Sleep(20 * time.Millisecond)
	if got, _ := drop.Count(); got != n {
		t.Fatalf("IfB counted %d frames, want exactly %d (%+v)", got, n, res)
	}
	t.Logf("%+v", res)
}
