package xsk

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/lana-net/lana/internal/testbed"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// progTestMAC* address the crafted frames; BPF_PROG_RUN does not look at them.
var (
	progTestDst = []byte{0x02, 0, 0, 0, 0, 0x02}
	progTestSrc = []byte{0x02, 0, 0, 0, 0, 0x01}
)

// progFrame builds an Ethernet frame of total length n (at least the header)
// with the given ethertype, behind one tag of type tagType when tagType != 0.
// The payload counts up from 0.
func progFrame(tagType, etherType uint16, n int) []byte {
	f := append([]byte{}, progTestDst...)
	f = append(f, progTestSrc...)
	if tagType != 0 {
		f = binary.BigEndian.AppendUint16(f, tagType)
		f = binary.BigEndian.AppendUint16(f, 42) // VLAN id 42
	}
	f = binary.BigEndian.AppendUint16(f, etherType)
	for i := 0; len(f) < n; i++ {
		f = append(f, byte(i))
	}
	return f
}

// progRun runs p's program once on frame through BPF_PROG_RUN and returns the
// verdict and which counter moved. It fails t unless exactly one counter
// moved by exactly one.
func progRun(t *testing.T, p *Program, frame []byte) (uint32, string) {
	t.Helper()
	return progRunOpts(t, p, &ebpf.RunOptions{Data: frame})
}

func progRunOpts(t *testing.T, p *Program, opts *ebpf.RunOptions) (uint32, string) {
	t.Helper()
	before, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	ret, err := p.prog.Run(opts)
	if err != nil {
		t.Fatalf("BPF_PROG_RUN: %v", err)
	}
	after, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	return ret, progMoved(t, before, after)
}

// progMoved names the one counter that grew by one from before to after.
func progMoved(t *testing.T, before, after ProgramCounters) string {
	t.Helper()
	if after.Total() != before.Total()+1 {
		t.Fatalf("counters went from %+v to %+v: want exactly one more frame", before, after)
	}
	switch {
	case after.Redirected > before.Redirected:
		return "redirected"
	case after.NotSteered > before.NotSteered:
		return "not-steered"
	case after.NoSocket > before.NoSocket:
		return "no-socket"
	case after.Short > before.Short:
		return "short"
	}
	t.Fatalf("no counter moved: %+v -> %+v", before, after)
	return ""
}

func progNew(t testing.TB, cfg ProgramConfig) *Program {
	t.Helper()
	p, err := NewProgram(cfg)
	if err != nil {
		t.Fatalf("NewProgram: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close program: %v", err)
		}
	})
	return p
}

const (
	progEtherTypeIPv4 = 0x0800
	progEtherTypeARP  = 0x0806
	progEtherTypeLANA = 0xAC05 // vlink port 5
)

// TestProgramRunSteering checks the program's decisions with BPF_PROG_RUN on
// crafted frames. No socket is registered, so a steered frame takes
// bpf_redirect_map's fallback (XDP_PASS) and the counters tell the paths apart.
func TestProgramRunSteering(t *testing.T) {
	testbed.RequirePrivileges(t)
	p := progNew(t, ProgramConfig{})

	for _, tc := range []struct {
		name  string
		frame []byte
		want  string
	}{
		{"lana", progFrame(0, progEtherTypeLANA, 64), "no-socket"},
		{"lana range start", progFrame(0, 0xAC00, 64), "no-socket"},
		{"lana range end", progFrame(0, 0xAFFF, 64), "no-socket"},
		{"below lana range", progFrame(0, 0xABFF, 64), "not-steered"},
		{"above lana range", progFrame(0, 0xB000, 64), "not-steered"},
		{"ipv4", progFrame(0, progEtherTypeIPv4, 64), "not-steered"},
		{"arp", progFrame(0, progEtherTypeARP, 60), "not-steered"},
		{"802.1Q lana", progFrame(steerEtherTypeVLAN, progEtherTypeLANA, 64), "no-socket"},
		{"802.1ad lana", progFrame(steerEtherTypeQinQ, progEtherTypeLANA, 64), "no-socket"},
		{"802.1Q ipv4", progFrame(steerEtherTypeVLAN, progEtherTypeIPv4, 64), "not-steered"},
		{"bare header lana", progFrame(0, progEtherTypeLANA, 14), "no-socket"},
		{"tag cut short", progFrame(steerEtherTypeVLAN, progEtherTypeLANA, 18)[:17], "short"},
		{"tag without ethertype", progFrame(steerEtherTypeVLAN, progEtherTypeLANA, 18)[:16], "short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ret, moved := progRun(t, p, tc.frame)
			if ret != progXDPPass {
				t.Errorf("verdict %d, want XDP_PASS (%d)", ret, progXDPPass)
			}
			if moved != tc.want {
				t.Errorf("path %s, want %s", moved, tc.want)
			}
		})
	}

	// Frames under 14 bytes cannot be fed in: BPF_PROG_RUN refuses them
	// (even behind metadata, EINVAL on Linux 6.18) and so does AF_PACKET
	// on an Ethernet device. The cut-short tags above take the same
	// "short" exit.
}

// TestProgramRunRuntimeSteering changes the steering of a loaded program and
// checks that the very next frame sees the change.
func TestProgramRunRuntimeSteering(t *testing.T) {
	testbed.RequirePrivileges(t)
	p := progNew(t, ProgramConfig{})
	ipv4 := progFrame(0, progEtherTypeIPv4, 64)
	lana := progFrame(0, progEtherTypeLANA, 64)
	custom := progFrame(0, 0x88B5, 64)
	expect := func(frame []byte, want string) {
		t.Helper()
		if _, moved := progRun(t, p, frame); moved != want {
			t.Errorf("ethertype %#04x: path %s, want %s (steering %v)",
				binary.BigEndian.Uint16(frame[12:]), moved, want, p.Steering())
		}
	}

	expect(ipv4, "not-steered")
	if err := p.SetSteering(Steering{All: true}); err != nil {
		t.Fatal(err)
	}
	expect(ipv4, "no-socket")
	expect(custom, "no-socket")
	if err := p.SetSteering(DefaultSteering()); err != nil {
		t.Fatal(err)
	}
	expect(ipv4, "not-steered")
	expect(custom, "not-steered")

	if err := p.AddEtherType(0x88B5); err != nil {
		t.Fatal(err)
	}
	expect(custom, "no-socket")
	want := Steering{EtherTypes: []EtherTypeRange{{0x88B5, 0x88B5}, {0xAC00, 0xAFFF}}}
	if got := p.Steering(); got.String() != want.String() {
		t.Errorf("Steering() = %v, want %v", got, want)
	}
	if err := p.RemoveEtherType(progEtherTypeLANA); err != nil {
		t.Fatal(err)
	}
	expect(lana, "not-steered")
	expect(progFrame(0, progEtherTypeLANA+1, 64), "no-socket")
	if err := p.RemoveEtherType(0x88B5); err != nil {
		t.Fatal(err)
	}
	expect(custom, "not-steered")
	// Idempotent edits.
	if err := p.RemoveEtherType(0x88B5); err != nil {
		t.Fatal(err)
	}
	if err := p.AddEtherType(0xAC06); err != nil {
		t.Fatal(err)
	}
	if err := p.AddEtherType(0x8100); err == nil {
		t.Error("AddEtherType(0x8100) accepted a VLAN tag type")
	}
	if err := p.SetSteering(Steering{EtherTypes: []EtherTypeRange{{0x0000, 0x0800}}}); err == nil {
		t.Error("SetSteering accepted 802.3 lengths")
	}
	// A failed edit leaves the steering as it was.
	expect(lana, "not-steered")
	expect(progFrame(0, 0xAC06, 64), "no-socket")

	// Steering nothing from the start.
	none := progNew(t, ProgramConfig{Steering: Steering{EtherTypes: []EtherTypeRange{}}})
	if _, moved := progRun(t, none, lana); moved != "not-steered" {
		t.Errorf("empty steering: LANA frame took path %s, want not-steered", moved)
	}
}

func TestProgramConfigValidation(t *testing.T) {
	testbed.RequirePrivileges(t)
	for _, cfg := range []ProgramConfig{
		{Queues: -1},
		{Queues: progMaxQueues + 1},
		{Steering: Steering{EtherTypes: []EtherTypeRange{{0xAF00, 0xAC00}}}},
	} {
		if p, err := NewProgram(cfg); err == nil {
			p.Close()
			t.Errorf("NewProgram(%+v) succeeded", cfg)
		}
	}
	p := progNew(t, ProgramConfig{Queues: 4})
	if p.Queues() != 4 {
		t.Errorf("Queues() = %d, want 4", p.Queues())
	}
	if err := p.Register(4, 0); err == nil {
		t.Error("Register(4) accepted a queue beyond the XSKMAP")
	}
	if err := p.Unregister(1); !errors.Is(err, ErrQueueNotRegistered) {
		t.Errorf("Unregister of an empty queue: %v, want ErrQueueNotRegistered", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := p.AddEtherType(0x88B5); !errors.Is(err, ErrProgramClosed) {
		t.Errorf("AddEtherType after Close: %v, want ErrProgramClosed", err)
	}
	if _, err := p.Counters(); !errors.Is(err, ErrProgramClosed) {
		t.Errorf("Counters after Close: %v, want ErrProgramClosed", err)
	}
}

// ExampleNewProgram hooks LANA into an interface: the vlink ethertypes of
// queue 0 go to an AF_XDP socket, everything else to the kernel, and one more
// ethertype is steered at runtime.
func ExampleNewProgram() {
	const ifindex, queue = 2, 0
	p, err := NewProgram(ProgramConfig{Steering: DefaultSteering()})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close() // detaches: nothing stays on the interface
	mode, err := p.Attach(ifindex)
	if err != nil {
		log.Fatal(err) // ErrXDPBusy if another XDP program is there
	}
	log.Printf("xdp attached in %v mode", mode)

	var sockFD int // an AF_XDP socket bound to (ifindex, queue)
	if err := p.Register(queue, sockFD); err != nil {
		log.Fatal(err)
	}
	if err := p.AddEtherType(0x88B5); err != nil { // no reattach needed
		log.Fatal(err)
	}
	c, err := p.Counters()
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("%d frames to userspace, %d to the kernel", c.Redirected, c.NotSteered+c.NoSocket+c.Short)
}

// BenchmarkProgramRun measures the program on 64-byte frames with
// BPF_PROG_RUN's repeat loop, as the kernel times it: "ns/frame" and "Mpps"
// are the program's own cost per frame on one CPU. ns/op is one BPF_PROG_RUN
// call of progBenchRepeat frames and is dominated by a fixed cost of the
// syscall (about 25 ms on Linux 6.18: it swaps the XDP dispatcher's program
// in and out), not by the frames.
//
// "lana" takes the steered path with no socket registered: config lookup,
// bitmap test, bpf_redirect_map missing in the XSKMAP. "ipv4" takes the
// not-steered path.
func BenchmarkProgramRun(b *testing.B) {
	testbed.RequirePrivileges(b)
	p := progNew(b, ProgramConfig{})
	for _, bc := range []struct {
		name      string
		etherType uint16
	}{{"lana", progEtherTypeLANA}, {"ipv4", progEtherTypeIPv4}} {
		b.Run(bc.name, func(b *testing.B) {
			frame := progFrame(0, bc.etherType, 64)
			b.ReportAllocs()
			var total time.Duration
			for b.Loop() {
				ret, d, err := p.prog.Benchmark(frame, progBenchRepeat, nil)
				if err != nil {
					b.Fatal(err)
				}
				if ret != progXDPPass {
					b.Fatalf("verdict %d, want XDP_PASS", ret)
				}
				total += d // d is the kernel's mean per frame
			}
			nsPerFrame := float64(total.Nanoseconds()) / float64(b.N)
			b.ReportMetric(nsPerFrame, "ns/frame")
			b.ReportMetric(1e3/nsPerFrame, "Mpps")
		})
	}
}

// progBenchRepeat is the number of frames per BPF_PROG_RUN call in
// BenchmarkProgramRun.
const progBenchRepeat = 100000

// progLinkXDP returns the id of the XDP program on tb's IfB and its attach
// mode as netlink reports it (0 when none), and what `ip -d link show`
// prints for IfB.
func progLinkXDP(t *testing.T, tb *testbed.Pair) (id uint32, mode uint32, ipLink string) {
	t.Helper()
	err := tb.Do(testbed.B, func() error {
		l, err := netlink.LinkByName(tb.IfB)
		if err != nil {
			return err
		}
		if x := l.Attrs().Xdp; x != nil && x.Attached {
			id, mode = x.ProgId, x.AttachMode
		}
		return nil
	})
	if err != nil {
		t.Fatalf("query %s: %v", tb.IfB, err)
	}
	out, err := exec.Command("ip", "netns", "exec", tb.NSB, "ip", "-d", "link", "show", "dev", tb.IfB).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -d link show: %v\n%s", err, out)
	}
	return id, mode, string(out)
}

// progID returns the kernel's id of p's program.
func progID(t testing.TB, p *Program) uint32 {
	t.Helper()
	info, err := p.prog.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, ok := info.ID()
	if !ok {
		t.Fatal("kernel reports no program id")
	}
	return uint32(id)
}

// progIPShowsXDP reports whether `ip -d link show` output names an XDP
// program with the given id.
func progIPShowsXDP(out string, id uint32) bool {
	return strings.Contains(out, "prog/xdp id "+strconv.FormatUint(uint64(id), 10))
}

func TestProgramAttachDetach(t *testing.T) {
	tb := testbed.New(t, testbed.Options{})
	p := progNew(t, ProgramConfig{})
	id := progID(t, p)

	attach := func(p *Program) (mode AttachMode, err error) {
		derr := tb.Do(testbed.B, func() error {
			mode, err = p.Attach(tb.IndexB)
			return nil
		})
		if derr != nil {
			t.Fatal(derr)
		}
		return mode, err
	}

	mode, err := attach(p)
	if err != nil {
		t.Fatalf("Attach: %v", err)
	}
	// veth has native XDP.
	if mode != AttachDriver || p.Mode() != AttachDriver {
		t.Errorf("attach mode %v (Mode() %v), want driver", mode, p.Mode())
	}
	gotID, nlMode, ipOut := progLinkXDP(t, tb)
	if gotID != id || nlMode != uint32(nl.XDP_ATTACHED_DRV) {
		t.Errorf("netlink: program %d mode %d on %s, want %d in driver mode", gotID, nlMode, tb.IfB, id)
	}
	if !progIPShowsXDP(ipOut, id) {
		t.Errorf("ip -d link show does not show program %d:\n%s", id, ipOut)
	}

	if _, err := attach(p); !errors.Is(err, ErrProgramAttached) {
		t.Errorf("second Attach: %v, want ErrProgramAttached", err)
	}
	other := progNew(t, ProgramConfig{})
	if _, err := attach(other); !errors.Is(err, ErrXDPBusy) || !strings.Contains(err.Error(), strconv.Itoa(int(id))) {
		t.Errorf("Attach of another program: %v, want ErrXDPBusy naming program %d", err, id)
	}

	if err := p.Detach(); err != nil {
		t.Fatalf("Detach: %v", err)
	}
	if gotID, _, ipOut := progLinkXDP(t, tb); gotID != 0 || strings.Contains(ipOut, "prog/xdp") {
		t.Errorf("after Detach %s still carries program %d:\n%s", tb.IfB, gotID, ipOut)
	}
	if p.Mode() != AttachNone {
		t.Errorf("Mode() after Detach = %v", p.Mode())
	}
	if err := p.Detach(); err != nil {
		t.Errorf("second Detach: %v", err)
	}

	// Reattach, then Close takes the program off the interface.
	if _, err := attach(p); err != nil {
		t.Fatalf("Attach after Detach: %v", err)
	}
	if gotID, _, _ := progLinkXDP(t, tb); gotID != id {
		t.Fatalf("after reattach: program %d, want %d", gotID, id)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if gotID, _, ipOut := progLinkXDP(t, tb); gotID != 0 || strings.Contains(ipOut, "prog/xdp") {
		t.Errorf("after Close %s still carries program %d:\n%s", tb.IfB, gotID, ipOut)
	}
	if _, err := attach(p); !errors.Is(err, ErrProgramClosed) {
		t.Errorf("Attach after Close: %v, want ErrProgramClosed", err)
	}
}

// progTestSocket is the AF_XDP socket the live tests register: this
// package's Socket in copy mode (veth has no zero-copy).
type progTestSocket struct {
	*Socket
	descs []Desc
	addrs []uint64
}

// progOpenSocket opens an AF_XDP socket on queue 0 of ifindex and stocks its
// fill ring; call it in the interface's namespace.
func progOpenSocket(ifindex int) (*progTestSocket, error) {
	const frames = 256
	s, err := Open(ifindex, 0, Config{Mode: ModeCopy, UMEM: UMEMConfig{FrameCount: frames}})
	if err != nil {
		return nil, err
	}
	if n := s.Refill(s.UMEM().FrameAddrs(0, frames)); n != frames {
		s.Close()
		return nil, fmt.Errorf("stock fill ring: %d of %d frames", n, frames)
	}
	return &progTestSocket{Socket: s, descs: make([]Desc, 64), addrs: make([]uint64, 64)}, nil
}

// receive waits up to timeout for frames and returns copies of them,
// handing the frames it consumed back to the fill ring.
func (s *progTestSocket) receive(timeout time.Duration) ([][]byte, error) {
	ok, err := s.Poll(timeout)
	if err != nil || !ok {
		return nil, err
	}
	n := s.Receive(s.descs)
	frames := make([][]byte, 0, n)
	for i, d := range s.descs[:n] {
		frames = append(frames, bytes.Clone(s.UMEM().Frame(d.Addr, d.Len)))
		s.addrs[i] = s.UMEM().FrameBase(d.Addr)
	}
	if got := s.Refill(s.addrs[:n]); got != n {
		return nil, fmt.Errorf("refill: %d of %d frames", got, n)
	}
	return frames, nil
}

// progSender sends raw frames out of IfA with an AF_PACKET socket made in A.
type progSender struct {
	fd int
	sa unix.SockaddrLinklayer
}

func progNewSender(t *testing.T, tb *testbed.Pair) *progSender {
	t.Helper()
	s := &progSender{fd: -1, sa: unix.SockaddrLinklayer{Ifindex: tb.IndexA, Halen: 6}}
	copy(s.sa.Addr[:], tb.MACB)
	err := tb.Do(testbed.A, func() error {
		var err error
		// Protocol 0: this socket sends and never receives.
		s.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		t.Fatalf("af_packet socket in %s: %v", tb.NSA, err)
	}
	t.Cleanup(func() { unix.Close(s.fd) })
	return s
}

// send transmits an Ethernet frame A -> B with the given ethertype (behind a
// tag of tagType unless 0) whose payload starts with marker.
func (s *progSender) send(t *testing.T, tb *testbed.Pair, tagType, etherType uint16, marker string) []byte {
	t.Helper()
	f := append([]byte{}, tb.MACB...)
	f = append(f, tb.MACA...)
	if tagType != 0 {
		f = binary.BigEndian.AppendUint16(f, tagType)
		f = binary.BigEndian.AppendUint16(f, 42)
	}
	f = binary.BigEndian.AppendUint16(f, etherType)
	f = append(f, marker...)
	for len(f) < 64 {
		f = append(f, 0)
	}
	if err := unix.Sendto(s.fd, f, 0, &s.sa); err != nil {
		t.Fatalf("send frame: %v", err)
	}
	return f
}

// TestProgramSteersLiveTraffic attaches the default steering to IfB with an
// AF_XDP socket on queue 0: ping between the namespaces must keep working
// (IPv4 and ARP are passed to the kernel) while LANA frames sent from A, bare
// or VLAN-tagged, reach the socket.
func TestProgramSteersLiveTraffic(t *testing.T) {
	tb := testbed.New(t, testbed.Options{})
	progWaitOperUp(t, tb)
	p := progNew(t, ProgramConfig{})
	var sock *progTestSocket
	err := tb.Do(testbed.B, func() error {
		if _, err := p.Attach(tb.IndexB); err != nil {
			return err
		}
		var err error
		sock, err = progOpenSocket(tb.IndexB)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.Close() })
	if err := p.Register(0, sock.FD()); err != nil {
		t.Fatal(err)
	}

	// A socket registered: BPF_PROG_RUN (queue 0) now takes the redirect.
	if ret, moved := progRun(t, p, progFrame(0, progEtherTypeLANA, 64)); ret != progXDPRedirect || moved != "redirected" {
		t.Errorf("PROG_RUN with a socket: verdict %d via %s, want XDP_REDIRECT via redirected", ret, moved)
	}

	before, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ip", "netns", "exec", tb.NSA, "ping", "-c", "3", "-i", "0.2", "-W", "2",
		tb.AddrB.Addr().String()).CombinedOutput()
	if err != nil {
		t.Fatalf("ping A -> B with the program attached: %v\n%s", err, out)
	}
	afterPing, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	// At least the 3 echo requests (plus ARP) reached B and were passed.
	if got := afterPing.NotSteered - before.NotSteered; got < 3 {
		t.Errorf("ping: %d frames passed as not steered, want at least 3 (%+v)", got, afterPing)
	}
	if afterPing.Redirected != before.Redirected {
		t.Errorf("ping: %d frames redirected, want none", afterPing.Redirected-before.Redirected)
	}

	sender := progNewSender(t, tb)
	const n = 16 // below the fill ring's 64 slots: nothing waits on a refill
	want := map[string][]byte{}
	for i := range n {
		tag := uint16(0)
		if i%4 == 3 {
			tag = steerEtherTypeVLAN
		}
		marker := fmt.Sprintf("lana-xsk-%02d", i)
		want[marker] = sender.send(t, tb, tag, progEtherTypeLANA+uint16(i), marker)
	}
	// Interleaved non-LANA frames must not reach the socket.
	sender.send(t, tb, 0, 0x88B5, "not-lana")

	deadline := time.Now().Add(5 * time.Second)
	for len(want) > 0 && time.Now().Before(deadline) {
		frames, err := sock.receive(200 * time.Millisecond)
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		for _, f := range frames {
			off := 14
			if binary.BigEndian.Uint16(f[12:]) == steerEtherTypeVLAN {
				off = 18
			}
			marker := string(f[off : off+len("lana-xsk-00")])
			w, ok := want[marker]
			if !ok {
				t.Errorf("socket got an unexpected frame: % x", f)
				continue
			}
			if !bytes.Equal(f, w) {
				t.Errorf("frame %s arrived as % x, sent % x", marker, f, w)
			}
			delete(want, marker)
		}
	}
	if len(want) > 0 {
		c, _ := p.Counters()
		t.Fatalf("%d of %d LANA frames never reached the socket (counters %+v)", len(want), n, c)
	}
	after, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if got := after.Redirected - afterPing.Redirected; got != n {
		t.Errorf("redirected %d frames, want %d", got, n)
	}
	if after.NotSteered == afterPing.NotSteered {
		t.Error("the 0x88B5 frame was not counted as not steered")
	}

	// Without a socket the queue's LANA frames go to the kernel again.
	if err := p.Unregister(0); err != nil {
		t.Fatal(err)
	}
	sender.send(t, tb, 0, progEtherTypeLANA, "lana-xsk-late")
	progWaitFor(t, 2*time.Second, "the LANA frame sent after Unregister to be counted as no-socket", func() bool {
		c, err := p.Counters()
		return err == nil && c.NoSocket > after.NoSocket
	})
}

// progWaitOperUp waits until both veth ends are operationally up. Until the
// kernel's link watch has activated their queueing disciplines (up to a
// second after testbed.New returns), frames sent from A are dropped silently
// and counted in A's tx_dropped.
func progWaitOperUp(t *testing.T, tb *testbed.Pair) {
	t.Helper()
	progWaitFor(t, 5*time.Second, "both veth ends to be operationally up", func() bool {
		up := 0
		for _, side := range []testbed.Side{testbed.A, testbed.B} {
			name := tb.IfA
			if side == testbed.B {
				name = tb.IfB
			}
			tb.Do(side, func() error {
				l, err := netlink.LinkByName(name)
				if err == nil && l.Attrs().OperState == netlink.OperUp {
					up++
				}
				return nil
			})
		}
		return up == 2
	})
}

// progWaitFor polls cond every 10ms until it holds or timeout passes.
func progWaitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(timeout); ; time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// progChildEnv carries "namespace,interface" to the re-executed test binary
// of TestProgramGoneAfterKill.
const progChildEnv = "LANA_XSK_PROG_KILL_CHILD"

// TestProgramGoneAfterKill checks that a process killed with SIGKILL while
// its program is attached and a socket registered leaves the interface
// without an XDP program: the bpf_link dies with the process's fds.
func TestProgramGoneAfterKill(t *testing.T) {
	if spec := os.Getenv(progChildEnv); spec != "" {
		progKillChild(t, spec)
		return
	}
	tb := testbed.New(t, testbed.Options{})
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var output bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^TestProgramGoneAfterKill$", "-test.count=1")
	cmd.Env = append(os.Environ(), progChildEnv+"="+tb.NSB+","+tb.IfB)
	cmd.ExtraFiles = []*os.File{w} // fd 3 in the child
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	waited := false
	t.Cleanup(func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})

	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		ready <- strings.TrimSpace(line)
	}()
	var line string
	select {
	case line = <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("child never signalled readiness")
	}
	childID, err := strconv.ParseUint(line, 10, 32)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		waited = true
		t.Fatalf("child failed before readiness (%q):\n%s", line, output.String())
	}
	id, _, ipOut := progLinkXDP(t, tb)
	if id == 0 || uint64(id) != childID || !progIPShowsXDP(ipOut, id) {
		t.Fatalf("before the kill %s carries program %d, want the child's %d:\n%s", tb.IfB, id, childID, ipOut)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	waited = true
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, not by SIGKILL:\n%s", err, output.String())
	}
	// The kernel releases the link as the dead process's files close; allow
	// for deferred release.
	progWaitFor(t, 5*time.Second, "the XDP program to leave "+tb.IfB, func() bool {
		id, _, ipOut := progLinkXDP(t, tb)
		return id == 0 && !strings.Contains(ipOut, "prog/xdp")
	})
}

// progKillChild is the child side of TestProgramGoneAfterKill: it enters the
// namespace, attaches a Program, registers an AF_XDP socket, writes the
// program's id to fd 3 and waits to be killed.
func progKillChild(t *testing.T, spec string) {
	nsName, ifName, ok := strings.Cut(spec, ",")
	if !ok {
		t.Fatalf("%s=%q: want namespace,interface", progChildEnv, spec)
	}
	// The thread stays locked in the namespace for the rest of the process.
	runtime.LockOSThread()
	ns, err := netns.GetFromName(nsName)
	if err != nil {
		t.Fatal(err)
	}
	if err := netns.Set(ns); err != nil {
		t.Fatal(err)
	}
	l, err := netlink.LinkByName(ifName)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProgram(ProgramConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Attach(l.Attrs().Index); err != nil {
		t.Fatal(err)
	}
	sock, err := progOpenSocket(l.Attrs().Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Register(0, sock.FD()); err != nil {
		t.Fatal(err)
	}
	readyPipe := os.NewFile(3, "ready")
	fmt.Fprintf(readyPipe, "%d\n", progID(t, p))
	// The parent kills us well before this; never outlive a dead parent.
	time.Sleep(time.Minute)
	os.Exit(3)
}

// TestProgramAttachGenericFallback attaches to namespace B's loopback, whose
// driver has no native XDP: Attach must fall back to generic mode.
func TestProgramAttachGenericFallback(t *testing.T) {
	tb := testbed.New(t, testbed.Options{})
	p := progNew(t, ProgramConfig{})
	var mode AttachMode
	var xdpMode uint32
	var xdpID uint32
	err := tb.Do(testbed.B, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		if mode, err = p.Attach(lo.Attrs().Index); err != nil {
			return err
		}
		if lo, err = netlink.LinkByName("lo"); err != nil {
			return err
		}
		if x := lo.Attrs().Xdp; x != nil && x.Attached {
			xdpID, xdpMode = x.ProgId, x.AttachMode
		}
		return nil
	})
	if err != nil {
		t.Fatalf("attach to lo in %s: %v", tb.NSB, err)
	}
	if mode != AttachGeneric {
		t.Errorf("attach mode %v, want generic", mode)
	}
	if xdpID != progID(t, p) || xdpMode != uint32(nl.XDP_ATTACHED_SKB) {
		t.Errorf("lo carries program %d in netlink mode %d, want %d in generic (SKB) mode", xdpID, xdpMode, progID(t, p))
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	tb.Do(testbed.B, func() error {
		lo, err := netlink.LinkByName("lo")
		if err == nil && lo.Attrs().Xdp != nil && lo.Attrs().Xdp.Attached {
			t.Errorf("lo still carries program %d after Close", lo.Attrs().Xdp.ProgId)
		}
		return err
	})
}
