package daemon_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lana-net/lana/api"
	"github.com/lana-net/lana/internal/testbed"
)

// vlConfig is a lanad configuration whose steering floor (0x88B5) holds
// no vlink port, so only the vlinks in the stack widen it.
func vlConfig(t *testing.T, p *testbed.Pair, v5opts string) string {
	t.Helper()
	cfg := `interfaces:
  - name: ` + p.IfB + `
    queues: all
    steering: "0x88B5"
poll: wakeup
stack:
  blocks:
    - {name: e0, type: eth, options: {type.v5: "0xac05", type.v6: "0xac06"}}
    - {name: v5, type: vlink, options: {` + v5opts + `}}
    - {name: c5, type: counter}
  bindings:
    - {below: "e0:v5", above: v5}
    - {below: v5, above: c5}
  hook: e0
`
	path := filepath.Join(t.TempDir(), "vlink.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// vlSocket is an AF_PACKET socket bound to one interface of one side.
type vlSocket struct {
	t     *testing.T
	fd    int
	index int
}

func vlOpen(t *testing.T, p *testbed.Pair, side testbed.Side, ifname string) *vlSocket {
	t.Helper()
	r := &vlSocket{t: t, fd: -1}
	err := p.Do(side, func() error {
		ifc, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		r.index = ifc.Index
		proto := int(vlHtons(unix.ETH_P_ALL))
		if r.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto); err != nil {
			return err
		}
		if err := unix.Bind(r.fd, &unix.SockaddrLinklayer{Protocol: vlHtons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
			return err
		}
		return unix.SetsockoptTimeval(r.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000})
	})
	if err != nil {
		if r.fd >= 0 {
			unix.Close(r.fd)
		}
		t.Fatalf("raw socket on %s: %v", ifname, err)
	}
	t.Cleanup(func() { unix.Close(r.fd) })
	return r
}

func vlHtons(v uint16) uint16 { return v<<8 | v>>8 }

func (r *vlSocket) send(f []byte, n int) {
	r.t.Helper()
	for range n {
		if err := unix.Sendto(r.fd, f, 0, &unix.SockaddrLinklayer{Ifindex: r.index}); err != nil {
			r.t.Fatalf("send: %v", err)
		}
	}
}

// collect returns the incoming frames of ethertype etype that carry mark,
// reading until want arrived or timeout passed.
func (r *vlSocket) collect(etype uint16, mark []byte, want int, timeout time.Duration) [][]byte {
	var got [][]byte
	buf := make([]byte, 4096)
	for end := time.Now().Add(timeout); len(got) < want && time.Now().Before(end); {
		n, from, err := unix.Recvfrom(r.fd, buf, 0)
		if err != nil {
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if n >= 14 && binary.BigEndian.Uint16(buf[12:]) == etype && bytes.Contains(buf[14:n], mark) {
			got = append(got, append([]byte{}, buf[:n]...))
		}
	}
	return got
}

func vlFrame(dst, src net.HardwareAddr, etype uint16, mark string) []byte {
	f := append(append(append([]byte{}, dst...), src...), byte(etype>>8), byte(etype))
	return append(f, append([]byte(mark), make([]byte, 46)...)...)
}

func vlStats(d *daemon) api.Stats {
	d.t.Helper()
	var s api.Stats
	if err := json.Unmarshal([]byte(d.mustCtl("stats", "--json")), &s); err != nil {
		d.t.Fatal(err)
	}
	if len(s.Programs) != 1 {
		d.t.Fatalf("programs: %+v", s.Programs)
	}
	return s
}

func vlPing(t *testing.T, p *testbed.Pair) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", p.NSA, "ping", "-c", "2", "-i", "0.2", "-W", "2",
		p.AddrB.Addr().String()).CombinedOutput()
	if err != nil {
		t.Fatalf("ping A -> B: %v\n%s", err, out)
	}
}

// TestVLinkSteeringFollowsStack: eth -> vlink 5 -> counter; port 6 frames
// stay with the kernel until a vlink for port 6 joins the stack at run
// time, and go back to the kernel when it leaves; ping works throughout.
func TestVLinkSteeringFollowsStack(t *testing.T) {
	p := testbed.New(t, testbed.Options{})
	d := startLanad(t, p, vlConfig(t, p, "port: \"5\""), filepath.Join(t.TempDir(), "lanad.sock"))
	a := vlOpen(t, p, testbed.A, p.IfA)
	f5 := vlFrame(p.MACB, p.MACA, 0xac05, "five")
	f6 := vlFrame(p.MACB, p.MACA, 0xac06, "six")

	if s := vlStats(d).Programs[0].Steering; s != "0x88b5,0xac05" {
		t.Fatalf("steering %q, want the floor plus port 5", s)
	}
	vlPing(t, p)
	a.send(f5, 50)
	d.waitCounted("c5", 50)

	// Port 6 has no vlink: its frames stay with the kernel.
	before := vlStats(d).Programs[0]
	a.send(f6, 30)
	time.Sleep(200 * time.Millisecond)
	after := vlStats(d).Programs[0]
	if n := after.NotSteered - before.NotSteered; n < 30 {
		t.Fatalf("not steered grew by %d, want >= 30", n)
	}
	if after.Redirected != before.Redirected {
		t.Fatalf("port 6 frames redirected: %d -> %d", before.Redirected, after.Redirected)
	}

	// A vlink for port 6 at run time: the steering follows at once.
	d.mustCtl("add", "v6", "vlink", "port=6")
	d.mustCtl("add", "c6", "counter")
	d.mustCtl("bind", "v6", "c6")
	if s := vlStats(d).Programs[0].Steering; strings.Contains(s, "0xac06") {
		t.Fatalf("steering %q: an unbound vlink widened it", s)
	}
	d.mustCtl("bind", "e0:v6", "v6")
	if s := vlStats(d).Programs[0].Steering; s != "0x88b5,0xac05-0xac06" {
		t.Fatalf("steering %q after bind, want port 6 added", s)
	}
	vlPing(t, p)
	a.send(f6, 30)
	d.waitCounted("c6", 30)
	if c := d.counted("c5"); c != 50 {
		t.Fatalf("c5 counted %d, want 50", c)
	}

	// Removed again: back to the kernel.
	d.mustCtl("unbind", "e0:v6", "v6")
	d.mustCtl("unbind", "v6", "c6")
	d.mustCtl("rm", "v6")
	if s := vlStats(d).Programs[0].Steering; s != "0x88b5,0xac05" {
		t.Fatalf("steering %q after rm, want port 6 gone", s)
	}
	before = vlStats(d).Programs[0]
	a.send(f6, 30)
	time.Sleep(200 * time.Millisecond)
	after = vlStats(d).Programs[0]
	if n := after.NotSteered - before.NotSteered; n < 30 {
		t.Fatalf("after rm: not steered grew by %d, want >= 30", n)
	}
	if c := d.counted("c6"); c != 30 {
		t.Fatalf("c6 counted %d after rm, want 30", c)
	}
	vlPing(t, p)
	if b := d.show("v5"); b.Stats.Packets != 50 || len(b.Stats.Drops) != 0 {
		t.Fatalf("v5 stats %+v", b.Stats)
	}
	// The vlink's own counters reach lanactl show.
	if c := d.show("v5").Stats.Counters; c["rx_packets"] != 50 || c["rx_bytes"] == 0 || c["tx_packets"] != 0 {
		t.Fatalf("v5 counters %v, want rx_packets 50", c)
	}
	if out := d.mustCtl("show", "v5"); !strings.Contains(out, "rx_packets:") {
		t.Fatalf("lanactl show v5 lacks the vlink's counters:\n%s", out)
	}
}

// TestVLinkTAP: vlink 5 shown as TAP device lv5 in B. A frame written to
// the TAP before any frame reached lanad goes out to A (the TAP draws UMEM
// frames from the engine, not from received traffic); frames from A appear
// on the TAP; a frame written to the TAP reaches A with ethertype 0xAC05;
// the TAP's carrier follows IfB.
func TestVLinkTAP(t *testing.T) {
	p := testbed.New(t, testbed.Options{})
	d := startLanad(t, p, vlConfig(t, p, `port: "5", dev: `+p.IfB+`, tap: lv5`), filepath.Join(t.TempDir(), "lanad.sock"))
	a := vlOpen(t, p, testbed.A, p.IfA)
	tap := vlOpen(t, p, testbed.B, "lv5")

	tap.send(vlFrame(p.MACA, net.HardwareAddr{2, 0, 0, 0, 0, 0x77}, 0xac05, "first"), 5)
	if got := a.collect(0xac05, []byte("first"), 5, 3*time.Second); len(got) != 5 {
		t.Fatalf("A received %d of 5 frames written to the TAP before any traffic\n%s", len(got), d.mustCtl("stats"))
	}
	for _, q := range vlStats(d).Queues {
		if q.RxPackets != 0 {
			t.Fatalf("queue %d received %d frames: the TAP's first frames were not the first traffic", q.Queue.Queue, q.RxPackets)
		}
	}
	// A burst larger than the workers' spare rings: the TAP reader waits
	// for frames to come back rather than dropping.
	if err := unix.SetsockoptInt(a.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20); err != nil {
		t.Fatal(err)
	}
	tap.send(vlFrame(p.MACA, p.MACB, 0xac05, "burst"), 300)
	if got := a.collect(0xac05, []byte("burst"), 300, 5*time.Second); len(got) != 300 {
		t.Fatalf("A received %d of a burst of 300 frames written to the TAP\n%s", len(got), d.mustCtl("stats"))
	}

	a.send(vlFrame(p.MACB, p.MACA, 0xac05, "to-tap"), 20)
	d.waitCounted("c5", 20) // the frames go up the stack too
	if got := tap.collect(0xac05, []byte("to-tap"), 20, 3*time.Second); len(got) != 20 {
		t.Fatalf("TAP saw %d of 20 frames", len(got))
	} else if !bytes.Equal(got[0][:12], append(append([]byte{}, p.MACB...), p.MACA...)) {
		t.Fatalf("TAP frame header %x", got[0][:14])
	}

	// Written into the TAP (the kernel transmits it out of lv5, lanad reads
	// it and sends it down v5): it reaches A from B's address.
	tap.send(vlFrame(p.MACA, net.HardwareAddr{2, 0, 0, 0, 0, 0x77}, 0xac05, "from-tap"), 5)
	got := a.collect(0xac05, []byte("from-tap"), 5, 3*time.Second)
	if len(got) != 5 {
		t.Fatalf("A received %d of 5 frames written to the TAP\n%s", len(got), d.mustCtl("stats"))
	}
	if !bytes.Equal(got[0][6:12], p.MACB) {
		t.Fatalf("source %x, want dev's address %s", got[0][6:12], p.MACB)
	}
	// Other ethertypes written to the TAP stay off the wire.
	tap.send(vlFrame(p.MACA, p.MACB, 0xac06, "foreign"), 3)
	if got := a.collect(0xac06, []byte("foreign"), 1, 300*time.Millisecond); len(got) != 0 {
		t.Fatalf("a foreign frame from the TAP reached A")
	}

	// The TAP's own statistics count the vlink's traffic.
	var st *netlink.LinkStatistics
	p.Do(testbed.B, func() error {
		l, err := netlink.LinkByName("lv5")
		if err == nil {
			st = l.Attrs().Statistics
		}
		return err
	})
	if st == nil || st.RxPackets < 20 || st.TxPackets < 5 {
		t.Fatalf("TAP statistics %+v", st)
	}

	// set builds a new instance; it adopts the TAP (same device, still fed).
	d.mustCtl("set", "v5", "strip=false")
	if idx := vlOpen(t, p, testbed.B, "lv5").index; idx != tap.index {
		t.Fatalf("TAP recreated by set: index %d -> %d", tap.index, idx)
	}
	a.send(vlFrame(p.MACB, p.MACA, 0xac05, "after-set"), 5)
	if got := tap.collect(0xac05, []byte("after-set"), 5, 3*time.Second); len(got) != 5 {
		t.Fatalf("after set: TAP saw %d of 5 frames", len(got))
	}

	// Carrier follows IfB.
	carrier := func() bool {
		var on bool
		p.Do(testbed.B, func() error {
			l, err := netlink.LinkByName("lv5")
			if err == nil {
				on = l.Attrs().RawFlags&unix.IFF_LOWER_UP != 0
			}
			return err
		})
		return on
	}
	waitCarrier := func(want bool) {
		t.Helper()
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if carrier() == want {
				return
			}
		}
		t.Fatalf("TAP carrier did not become %v", want)
	}
	waitCarrier(true)
	setLink := func(up bool) {
		err := p.Do(testbed.B, func() error {
			l, err := netlink.LinkByName(p.IfB)
			if err != nil {
				return err
			}
			if up {
				return netlink.LinkSetUp(l)
			}
			return netlink.LinkSetDown(l)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	setLink(false)
	waitCarrier(false)
	setLink(true)
	waitCarrier(true)

	// rm takes the TAP away.
	d.mustCtl("unbind", "e0:v5", "v5")
	d.mustCtl("unbind", "v5", "c5")
	d.mustCtl("rm", "v5")
	err := p.Do(testbed.B, func() error { _, err := netlink.LinkByName("lv5"); return err })
	var nf netlink.LinkNotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("lv5 after rm: %v", err)
	}
}
