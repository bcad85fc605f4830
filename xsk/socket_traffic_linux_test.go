package xsk

import (
	"bytes"
	"encoding/binary"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/lana-net/lana/internal/testbed"
	"golang.org/x/sys/unix"
)

// trafficPayload is the payload size of the test frames: an 8-byte sequence
// number, then bytes derived from it.
const trafficPayload = 100

// trafficFrame builds the frame with sequence number seq from src to dst
// (ethertype sockEtherType) into buf, which must come from trafficTemplate.
func trafficFrame(buf []byte, seq uint64) []byte {
	p := buf[14:]
	binary.BigEndian.PutUint64(p, seq)
	for i := 8; i < trafficPayload; i++ {
		p[i] = byte(seq*7 + uint64(i))
	}
	return buf
}

// trafficTemplate serializes an Ethernet header and a zero payload with
// gopacket; trafficFrame then stamps each frame's sequence into a copy.
func trafficTemplate(t *testing.T, src, dst net.HardwareAddr) []byte {
	t.Helper()
	sb := gopacket.NewSerializeBuffer()
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetType(sockEtherType)}
	if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{}, eth, gopacket.Payload(make([]byte, trafficPayload))); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), sb.Bytes()...)
}

// trafficPacketSocket opens an AF_PACKET socket in side's namespace bound to
// ifindex for ethertype proto (0: send only).
func trafficPacketSocket(t *testing.T, tb *testbed.Pair, side testbed.Side, ifindex int, proto uint16) int {
	t.Helper()
	fd := -1
	err := tb.Do(side, func() error {
		var err error
		be := proto<<8 | proto>>8
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(be))
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: be, Ifindex: ifindex})
	})
	if err != nil {
		t.Fatalf("af_packet socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// waitFor polls cond every millisecond until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// TestReceiveFromPeer sends 100,000 frames from an AF_PACKET socket in A and
// checks that every one arrives through the XDP program and our RX ring,
// byte for byte and in order, with no drop counted anywhere. The RX ring
// (512) and fill ring (2048) wrap about 200 and 50 times. The fill ring is
// twice the frame count because the kernel publishes its fill-ring consumer
// index lazily: frames it has already delivered may still hold fill slots.
func TestReceiveFromPeer(t *testing.T) {
	const total = 100_000
	tb := testbed.New(t, testbed.Options{})
	s := sockOpen(t, tb, 0, Config{RXSize: 512, TXSize: 64,
		UMEM: UMEMConfig{FrameSize: 2048, FrameCount: 1024, FillSize: 2048, CompletionSize: 64}})
	sockAttach(t, tb, s)
	if n := s.Refill(s.UMEM().FrameAddrs(0, 1024)); n != 1024 {
		t.Fatalf("initial Refill took %d", n)
	}
	tx := trafficPacketSocket(t, tb, testbed.A, tb.IndexA, 0)
	tmpl := trafficTemplate(t, tb.MACA, tb.MACB)

	var received atomic.Uint64
	done := make(chan error, 1)
	go func() {
		want := make([]byte, len(tmpl))
		copy(want, tmpl)
		descs := make([]Desc, 64)
		addrs := make([]uint64, 64)
		deadline := time.Now().Add(2 * time.Minute)
		var seq uint64
		for seq < total {
			if time.Now().After(deadline) {
				done <- nil
				return
			}
			if _, err := s.Poll(50 * time.Millisecond); err != nil {
				done <- err
				return
			}
			n := s.Receive(descs)
			for i, d := range descs[:n] {
				got := s.UMEM().Frame(d.Addr, d.Len)
				if !bytes.Equal(got, trafficFrame(want, seq)) {
					t.Errorf("frame %d: got % x, want % x", seq, got[:min(len(got), 24)], want[:24])
					done <- nil
					return
				}
				seq++
				addrs[i] = s.UMEM().FrameBase(d.Addr)
			}
			if m := s.Refill(addrs[:n]); m != n {
				t.Errorf("Refill took %d of %d received frames", m, n)
			}
			received.Store(seq)
		}
		done <- nil
	}()

	buf := make([]byte, len(tmpl))
	copy(buf, tmpl)
	const burst, inFlight = 64, 192 // below veth's 256-frame ring
	for seq := uint64(0); seq < total; {
		for end := min(seq+burst, total); seq < end; seq++ {
			if _, err := unix.Write(tx, trafficFrame(buf, seq)); err != nil {
				t.Fatalf("send frame %d: %v", seq, err)
			}
		}
		if !waitFor(10*time.Second, func() bool { return seq-received.Load() <= inFlight }) {
			t.Fatalf("receiver stuck at %d with %d sent", received.Load(), seq)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := received.Load(); got != total {
		t.Fatalf("received %d of %d frames", got, total)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.RxPackets != total || st.Filled != total+1024 || st.RxDropped != 0 || st.RxRingFull != 0 || st.RxInvalidDescs != 0 {
		t.Fatalf("stats %+v", st)
	}
	if wraps := s.RXRing().r.published / s.RXRing().Size(); wraps < 100 {
		t.Fatalf("RX ring wrapped only %d times", wraps)
	}
	t.Logf("received %d frames; %d fill-empty events, %d polls", total, st.RxFillRingEmptyDescs, st.Polls)
}

// TestTransmitToPeer sends frames through our TX ring and checks with an
// AF_PACKET socket in A that each arrives exactly, in order, and that every
// frame comes back through the completion ring.
func TestTransmitToPeer(t *testing.T) {
	const total = 50_000
	tb := testbed.New(t, testbed.Options{})
	s := sockOpen(t, tb, 0, Config{RXSize: 64, TXSize: 256,
		UMEM: UMEMConfig{FrameSize: 2048, FrameCount: 512, FillSize: 64, CompletionSize: 512}})
	rx := trafficPacketSocket(t, tb, testbed.A, tb.IndexA, sockEtherType)
	if err := unix.SetsockoptInt(rx, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20); err != nil {
		t.Fatal(err)
	}
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	if err := unix.SetsockoptTimeval(rx, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	tmpl := trafficTemplate(t, tb.MACB, tb.MACA)

	var received atomic.Uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		want := make([]byte, len(tmpl))
		copy(want, tmpl)
		buf := make([]byte, 4096)
		deadline := time.Now().Add(2 * time.Minute)
		for seq := uint64(0); seq < total && time.Now().Before(deadline); {
			n, err := unix.Read(rx, buf)
			if err == unix.EAGAIN || err == unix.EINTR {
				continue
			}
			if err != nil {
				t.Errorf("read at A: %v", err)
				return
			}
			if !bytes.Equal(buf[:n], trafficFrame(want, seq)) {
				t.Errorf("frame %d at A: got % x", seq, buf[:min(n, 24)])
				return
			}
			seq++
			received.Store(seq)
		}
	}()

	u := s.UMEM()
	free := u.FrameAddrs(0, u.FrameCount())
	descs := make([]Desc, 32)
	addrs := make([]uint64, 512)
	var sent uint64
	deadline := time.Now().Add(2 * time.Minute)
	for sent < total {
		if time.Now().After(deadline) {
			t.Fatalf("sent %d, A received %d", sent, received.Load())
		}
		// Keep what A has not read below its backlog limit (1000).
		if sent-received.Load() > 256 {
			time.Sleep(100 * time.Microsecond)
		} else {
			n := min(len(descs), len(free), int(total-sent))
			for i := range n {
				a := free[len(free)-1-i]
				f := u.Frame(a, uint32(len(tmpl)))
				copy(f, tmpl)
				trafficFrame(f, sent+uint64(i))
				descs[i] = Desc{Addr: a, Len: uint32(len(tmpl))}
			}
			m := s.Transmit(descs[:n])
			free = free[:len(free)-m]
			sent += uint64(m)
		}
		c := s.Complete(addrs[:cap(free)-len(free)])
		free = append(free, addrs[:c]...)
	}
	if !waitFor(10*time.Second, func() bool {
		c := s.Complete(addrs[:cap(free)-len(free)])
		free = append(free, addrs[:c]...)
		return len(free) == int(u.FrameCount())
	}) {
		t.Fatalf("%d of %d frames never completed", int(u.FrameCount())-len(free), u.FrameCount())
	}
	<-done
	if got := received.Load(); got != total {
		t.Fatalf("A received %d of %d frames", got, total)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.TxPackets != total || st.Completed != total || st.TxInvalidDescs != 0 || st.KickErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("sent %d frames with %d kicks", total, st.Kicks)
}

// TestSocketNoAllocs asserts the socket's data path (with real kicks and
// polls) never allocates, frames flowing B -> A and back through the rings.
func TestSocketNoAllocs(t *testing.T) {
	tb := testbed.New(t, testbed.Options{})
	s := sockOpen(t, tb, 0, Config{RXSize: 256, TXSize: 256,
		UMEM: UMEMConfig{FrameSize: 2048, FrameCount: 512, FillSize: 512, CompletionSize: 256}})
	sockAttach(t, tb, s)
	s.Refill(s.UMEM().FrameAddrs(0, 256))
	tmpl := trafficTemplate(t, tb.MACB, tb.MACA)
	descs := make([]Desc, 16)
	addrs := make([]uint64, 256)
	for i := range descs {
		a := s.UMEM().FrameAddr(uint32(256 + i))
		copy(s.UMEM().Frame(a, uint32(len(tmpl))), tmpl)
		descs[i] = Desc{Addr: a, Len: uint32(len(tmpl))}
	}
	rxd := make([]Desc, 64)
	allocs := testing.AllocsPerRun(200, func() {
		s.Transmit(descs)
		for c, tries := 0, 0; c < len(descs) && tries < 1_000_000; tries++ {
			c += s.Complete(addrs)
		}
		s.Poll(0)
		n := s.Receive(rxd)
		for i := range rxd[:n] {
			addrs[i] = rxd[i].Addr
		}
		s.Refill(addrs[:n])
	})
	if allocs != 0 {
		t.Fatalf("socket data path allocates %.1f times per round", allocs)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Completed < 200*16 || st.Kicks == 0 {
		t.Fatalf("the loop moved nothing: %+v", st)
	}
}
