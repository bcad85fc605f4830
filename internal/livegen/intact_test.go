package livegen_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lana-net/lana/internal/frames"
	"github.com/lana-net/lana/internal/livegen"
	"github.com/lana-net/lana/internal/testbed"
	"github.com/lana-net/lana/internal/xdpcount"
)

// capture opens an AF_PACKET socket on IfB that receives every frame.
func capture(t *testing.T, p *testbed.Pair) int {
	t.Helper()
	var fd int
	err := p.Do(testbed.B, func() error {
		var err error
		proto := int(htons(unix.ETH_P_ALL))
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20); err != nil {
			return err
		}
		tv := unix.NsecToTimeval(int64(500 * time.Millisecond))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: p.IndexB})
	})
	if err != nil {
		t.Fatalf("capture socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// TestFramesArriveIntact sends sequenced frames over several flows with each
// generator and checks every captured byte against the frame the frames
// package builds for that sequence number.
func TestFramesArriveIntact(t *testing.T) {
	for _, mode := range []string{"xdp-live", "afpacket"} {
		t.Run(mode, func(t *testing.T) {
			for _, vlink := range []bool{false, true} {
				p := testbed.New(t, testbed.Options{})
				quiet(t, p)
				pass := attach(t, p, xdpcount.Pass)
				fd := capture(t, p)
				const n = 1000
				s := spec(p, 5)
				s.Size = 128
				s.Vlink, s.VlinkPort = vlink, 42
				cfg := livegen.Config{
					Ifindex: p.IndexA, Do: doA(p), CPU: -1, Frame: s, Count: n,
					Pace: pass.Consumed, PaceMap: pass.Map(),
				}
				var g livegen.Generator
				var err error
				if mode == "xdp-live" {
					g, err = livegen.NewXDPLive(cfg)
				} else {
					cfg.PaceMap = nil
					g, err = livegen.NewAFPacket(cfg)
				}
				if err != nil {
					t.Fatal(err)
				}
				if res, err := g.Run(context.Background()); err != nil || res.Sent != n {
					t.Fatalf("run: %+v, %v", res, err)
				}
				checkCapture(t, fd, s, n)
			}
		})
	}
}

func checkCapture(t *testing.T, fd int, s frames.Spec, n int) {
	t.Helper()
	want := s
	want.ZeroUDPChecksum = true // both generators zero it when they stamp sequence numbers
	off := s.Offsets()
	seen := make([]bool, n)
	buf := make([]byte, 2048)
	got := 0
	for got < n {
		m, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			t.Fatalf("captured %d of %d frames: %v", got, n, err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue // B's own replies (ICMP port unreachable)
		}
		f := buf[:m]
		if et := binary.BigEndian.Uint16(f[12:]); s.Vlink && et != frames.VlinkBase|uint16(s.VlinkPort) ||
			!s.Vlink && et != 0x0800 {
			continue // not ours (e.g. stack traffic)
		}
		seq, ok := frames.SeqAt(f, off)
		if !ok || seq >= uint64(n) {
			t.Fatalf("frame with bad sequence number %d (ok=%v): % x", seq, ok, f)
		}
		if seen[seq] {
			t.Fatalf("sequence number %d twice", seq)
		}
		seen[seq] = true
		exp, err := frames.BuildOne(want, int(seq))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f, exp) {
			t.Fatalf("frame %d differs:\n got % x\nwant % x", seq, f, exp)
		}
		got++
	}
}
