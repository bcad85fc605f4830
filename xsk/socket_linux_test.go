package xsk

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/lana-net/lana/internal/testbed"
)

var _ userQueue = (*Socket)(nil)

// sockEtherType is the vlink ethertype the socket tests send (LANA port 5),
// inside DefaultSteering's range.
const sockEtherType = 0xAC05

// sockFDs counts the process's open file descriptors.
func sockFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// sockMaps counts the process's mappings of AF_XDP rings (shown in
// /proc/self/maps as the socket's inode, "socket:[N]"): an unwound Open
// leaves none.
func sockMaps(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "socket:[")
}

// sockOpen opens a socket in B and closes it at cleanup.
func sockOpen(t *testing.T, tb *testbed.Pair, queue int, cfg Config) *Socket {
	t.Helper()
	var s *Socket
	err := tb.Do(testbed.B, func() error {
		var err error
		s, err = Open(tb.IndexB, queue, cfg)
		return err
	})
	if err != nil {
		t.Fatalf("Open in %s: %v", tb.NSB, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sockAttach loads the steering program (DefaultSteering: LANA ethertypes),
// attaches it to IfB and registers s on its queue.
func sockAttach(t *testing.T, tb *testbed.Pair, socks ...*Socket) *Program {
	t.Helper()
	p, err := NewProgram(ProgramConfig{})
	if err != nil {
		t.Fatalf("NewProgram: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	err = tb.Do(testbed.B, func() error {
		if _, err := p.Attach(tb.IndexB); err != nil {
			return err
		}
		for _, s := range socks {
			if err := p.Register(s.Queue(), s.FD()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("attach and register in %s: %v", tb.NSB, err)
	}
	return p
}

func TestOpenBadParameters(t *testing.T) {
	tb := testbed.New(t, testbed.Options{})
	fds, maps := sockFDs(t), sockMaps(t)
	for _, tc := range []struct {
		name    string
		ifindex int
		queue   int
		cfg     Config
		is      error
		want    string
	}{
		{"rx ring 1000", tb.IndexB, 0, Config{RXSize: 1000}, ErrInvalidConfig, "rx ring size 1000: must be a power of two"},
		{"fill ring 1000", tb.IndexB, 0, Config{UMEM: UMEMConfig{FillSize: 1000}}, ErrInvalidConfig, "fill ring size 1000: must be a power of two"},
		{"frame size 3000", tb.IndexB, 0, Config{UMEM: UMEMConfig{FrameSize: 3000}}, ErrInvalidConfig, "frame size 3000: must be 2048 or 4096"},
		{"bad mode", tb.IndexB, 0, Config{Mode: 7}, ErrInvalidConfig, "mode 7"},
		{"unknown interface", 99999, 0, Config{}, ErrNoInterface, "interface index 99999"},
		{"interface of the other namespace", tb.IndexA + 1000, 0, Config{}, ErrNoInterface, "interface index"},
		{"queue out of range", tb.IndexB, 1, Config{}, ErrQueueRange, "must be in 0..0 (1 RX queues)"},
		{"negative queue", tb.IndexB, -1, Config{}, ErrQueueRange, "queue -1"},
		// Fails at bind, after the socket, the UMEM and all four rings
		// were made: everything must be unwound.
		{"zero-copy on veth", tb.IndexB, 0, Config{Mode: ModeZeroCopy}, ErrZeroCopyUnsupported, "zero-copy"},
	} {
		var s *Socket
		err := tb.Do(testbed.B, func() error {
			var err error
			s, err = Open(tc.ifindex, tc.queue, tc.cfg)
			return err
		})
		if err == nil {
			s.Close()
			t.Errorf("%s: Open succeeded", tc.name)
			continue
		}
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %q, want %v saying %q", tc.name, err, tc.is, tc.want)
		}
		if n := sockFDs(t); n != fds {
			t.Errorf("%s: %d fds open, %d before: leaked", tc.name, n, fds)
		}
		if n := sockMaps(t); n != maps {
			t.Errorf("%s: %d ring mappings, %d before: leaked", tc.name, n, maps)
		}
	}
}

func TestOpenModesAndClose(t *testing.T) {
	tb := testbed.New(t, testbed.Options{})
	fds, maps := sockFDs(t), sockMaps(t)
	for _, mode := range []Mode{ModeAuto, ModeCopy} {
		var s *Socket
		err := tb.Do(testbed.B, func() error {
			var err error
			s, err = Open(tb.IndexB, 0, Config{Mode: mode, RXSize: 64, TXSize: 128,
				UMEM: UMEMConfig{FrameSize: 2048, FrameCount: 256, FillSize: 256, CompletionSize: 32}})
			return err
		})
		if err != nil {
			t.Fatalf("Open(%s): %v", mode, err)
		}
		// veth has no zero-copy: auto falls back to copy.
		if s.Mode() != ModeCopy {
			t.Errorf("Open(%s) on veth: mode %s, want copy", mode, s.Mode())
		}
		if !s.NeedWakeup() || s.Ifindex() != tb.IndexB || s.Queue() != 0 || s.FD() < 0 {
			t.Errorf("accessors: wakeup %v ifindex %d queue %d fd %d", s.NeedWakeup(), s.Ifindex(), s.Queue(), s.FD())
		}
		if s.RXRing().Size() != 64 || s.TXRing().Size() != 128 || s.FillRing().Size() != 256 || s.CompletionRing().Size() != 32 {
			t.Errorf("ring sizes %d %d %d %d", s.RXRing().Size(), s.TXRing().Size(), s.FillRing().Size(), s.CompletionRing().Size())
		}
		if s.UMEM().Size() != 256*2048 {
			t.Errorf("umem size %d", s.UMEM().Size())
		}
		if n := s.Refill(s.UMEM().FrameAddrs(0, 256)); n != 256 {
			t.Errorf("Refill took %d of 256", n)
		}
		st, err := s.Stats()
		if err != nil || st.Filled != 256 {
			t.Errorf("Stats: %+v, %v", st, err)
		}
		if sockMaps(t) != maps+4 {
			t.Errorf("%d ring mappings with a socket open, want %d", sockMaps(t), maps+4)
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := s.Stats(); !errors.Is(err, ErrSocketClosed) {
			t.Errorf("Stats after Close: %v", err)
		}
		if _, err := s.Poll(0); !errors.Is(err, ErrSocketClosed) {
			t.Errorf("Poll after Close: %v", err)
		}
		if s.UMEM().mem != nil {
			t.Error("UMEM still mapped after its only socket closed")
		}
	}
	if n := sockFDs(t); n != fds {
		t.Errorf("%d fds open after Close, %d before", n, fds)
	}
	if n := sockMaps(t); n != maps {
		t.Errorf("%d ring mappings after Close, %d before", n, maps)
	}
}

func TestOpenSharedUMEM(t *testing.T) {
	tb := testbed.New(t, testbed.Options{Queues: 2})
	fds := sockFDs(t)
	first := sockOpen(t, tb, 0, Config{UMEM: UMEMConfig{FrameCount: 1024}})
	var second *Socket
	err := tb.Do(testbed.B, func() error {
		if _, err := Open(tb.IndexB, 0, Config{Shared: first.UMEM()}); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("sharing on the first socket's queue: %v, want ErrInvalidConfig", err)
		}
		if _, err := Open(tb.IndexB, 1, Config{Shared: first.UMEM(), Mode: ModeZeroCopy}); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("sharing in another mode: %v, want ErrInvalidConfig", err)
		}
		var err error
		second, err = Open(tb.IndexB, 1, Config{Shared: first.UMEM(), UMEM: UMEMConfig{FillSize: 512, CompletionSize: 512}})
		return err
	})
	if err != nil {
		t.Fatalf("Open sharing the UMEM on queue 1: %v", err)
	}
	if second.UMEM() != first.UMEM() || second.Mode() != first.Mode() || second.FillRing().Size() != 512 {
		t.Fatalf("shared socket: umem %p/%p mode %s fill %d", second.UMEM(), first.UMEM(), second.Mode(), second.FillRing().Size())
	}
	// Each socket has its own fill ring over the one UMEM.
	if first.Refill(first.UMEM().FrameAddrs(0, 512)) != 512 || second.Refill(first.UMEM().FrameAddrs(512, 512)) != 512 {
		t.Fatal("refilling both sockets' fill rings failed")
	}
	// The UMEM outlives its first socket while the second uses it.
	first.Close()
	if first.UMEM().mem == nil {
		t.Fatal("UMEM unmapped while a sharing socket is open")
	}
	second.UMEM().Frame(0, 64)[0] = 1
	err = tb.Do(testbed.B, func() error {
		_, err := Open(tb.IndexB, 0, Config{Shared: second.UMEM()})
		return err
	})
	if !errors.Is(err, ErrUMEMClosed) {
		t.Errorf("sharing a UMEM whose first socket closed: %v, want ErrUMEMClosed", err)
	}
	second.Close()
	if second.UMEM().mem != nil {
		t.Error("UMEM still mapped after its last socket closed")
	}
	if n := sockFDs(t); n != fds {
		t.Errorf("%d fds open, %d before", n, fds)
	}
}
