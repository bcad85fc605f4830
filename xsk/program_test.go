package xsk

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/lana-net/lana/internal/testbed"
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

// BenchmarkProgramRun measures the program on a 64-byte LANA frame with
// BPF_PROG_RUN's repeat loop, as the kernel times it: ns per frame, without
// the syscall.
func BenchmarkProgramRun(b *testing.B) {
	testbed.RequirePrivileges(b)
	p := progNew(b, ProgramConfig{})
	frame := progFrame(0, progEtherTypeLANA, 64)
	const repeat = 10000
	b.ReportAllocs()
	var total float64
	for b.Loop() {
		ret, d, err := p.prog.Benchmark(frame, repeat, nil)
		if err != nil {
			b.Fatal(err)
		}
		if ret != progXDPPass {
			b.Fatalf("verdict %d", ret)
		}
		total += float64(d.Nanoseconds())
	}
	nsPerFrame := total / float64(b.N)
	b.ReportMetric(nsPerFrame, "ns/frame")
	b.ReportMetric(1e3/nsPerFrame, "Mpps")
}

