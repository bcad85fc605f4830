package xdpcount_test

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/lana-net/lana/internal/frames"
	"github.com/lana-net/lana/internal/livegen"
	"github.com/lana-net/lana/internal/testbed"
	"github.com/lana-net/lana/internal/xdpcount"
)

// newPair returns a pair whose A end sends nothing of its own (no IPv6
// solicitations) that the counters would count.
func newPair(t *testing.T) *testbed.Pair {
	p := testbed.New(t, testbed.Options{})
	err := p.Do(testbed.A, func() error {
		return os.WriteFile("/proc/sys/net/ipv6/conf/"+p.IfA+"/disable_ipv6", []byte("1"), 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// send writes n UDP frames from A to B's address and port 9 through AF_PACKET.
func send(t *testing.T, p *testbed.Pair, n uint64) {
	t.Helper()
	g, err := livegen.NewAFPacket(livegen.Config{
		Ifindex: p.IndexA, CPU: -1, Count: n,
		Do: func(fn func() error) error { return p.Do(testbed.A, fn) },
		Frame: frames.Spec{
			SrcMAC: p.MACA, DstMAC: p.MACB, SrcIP: p.AddrA.Addr(), DstIP: p.AddrB.Addr(),
			DstPort: 9, Size: 100,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := g.Run(context.Background()); err != nil || res.Sent != n {
		t.Fatalf("send: %+v %v", res, err)
	}
}

func attach(t *testing.T, p *testbed.Pair, a xdpcount.Action) *xdpcount.Counter {
	t.Helper()
	var c *xdpcount.Counter
	if err := p.Do(testbed.B, func() (err error) { c, err = xdpcount.Attach(a, p.IndexB); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

func waitFor(c *xdpcount.Counter, n uint64) uint64 {
	var got uint64
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if got, _ = c.Count(); got >= n {
			break
		}
	}
	time.Sleep(10 * time.Millisecond)
	got, _ = c.Count()
	return got
}

func TestDropCountsFramesAndBytes(t *testing.T) {
	p := newPair(t)
	drop := attach(t, p, xdpcount.Drop)
	if drop.Map() == nil || drop.Action() != xdpcount.Drop {
		t.Fatal("counter lacks its map or action")
	}
	const n = 500
	send(t, p, n)
	if got := waitFor(drop, n); got != n {
		t.Fatalf("counted %d frames, want %d", got, n)
	}
	if b, err := drop.Bytes(); err != nil || b != n*96 {
		t.Fatalf("counted %d bytes (%v), want %d", b, err, n*96)
	}
}

func TestPassReachesStack(t *testing.T) {
	p := newPair(t)
	pass := attach(t, p, xdpcount.Pass)
	var conn *net.UDPConn
	err := p.Do(testbed.B, func() (err error) {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: p.AddrB.Addr().AsSlice(), Port: 9})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadBuffer(4 << 20)
	const n = 200
	send(t, p, n)
	if got := waitFor(pass, n); got != n {
		t.Fatalf("counted %d frames, want %d", got, n)
	}
	buf := make([]byte, 2048)
	for i := 0; i < n; i++ {
		conn.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := conn.Read(buf); err != nil {
			t.Fatalf("datagram %d of %d did not reach the socket: %v", i, n, err)
		}
	}
}

func TestAttachRejectsUnknownAction(t *testing.T) {
	if _, err := xdpcount.Attach(xdpcount.Action(7), 1); !errors.Is(err, xdpcount.ErrAction) {
		t.Fatalf("got %v, want ErrAction", err)
	}
}
