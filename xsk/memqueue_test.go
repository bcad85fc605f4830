package xsk

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

// userQueue is the user-side API a Socket and a MemQueue share; the engine's
// queue interface relies on it.
type userQueue interface {
	Receive(descs []Desc) int
	Refill(addrs []uint64) int
	Transmit(descs []Desc) int
	Complete(addrs []uint64) int
	Poll(timeout time.Duration) (bool, error)
	NeedWakeup() bool
	UMEM() *UMEM
	FillRing() *FillRing
	CompletionRing() *CompletionRing
	RXRing() *RXRing
	TXRing() *TXRing
	Stats() (Stats, error)
}

var _ userQueue = (*MemQueue)(nil)

func newTestMemQueue(t testing.TB, cfg UMEMConfig, rx, tx uint32) *MemQueue {
	t.Helper()
	q, err := NewMemQueue(cfg, rx, tx)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestUMEMConfigRules(t *testing.T) {
	for _, tc := range []struct {
		cfg  UMEMConfig
		want string
	}{
		{UMEMConfig{FrameSize: 3000}, "frame size 3000: must be 2048 or 4096"},
		{UMEMConfig{FillSize: 1000}, "fill ring size 1000: must be a power of two"},
		{UMEMConfig{CompletionSize: 3}, "completion ring size 3: must be a power of two"},
		{UMEMConfig{FrameSize: 2048, Headroom: 1792}, "headroom 1792 with frame size 2048: must be below frame size - 256"},
		{UMEMConfig{FrameCount: MaxFrameCount + 1}, "must be at most"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an ErrInvalidConfig saying %q", tc.cfg, err, tc.want)
		}
		if _, err := NewMemQueue(tc.cfg, 0, 0); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewMemQueue(%+v): got %v", tc.cfg, err)
		}
	}
	if err := (UMEMConfig{}).Validate(); err != nil {
		t.Errorf("defaults rejected: %v", err)
	}
	if _, err := NewMemQueue(UMEMConfig{}, 1000, 0); err == nil || !strings.Contains(err.Error(), "rx ring size 1000: must be a power of two") {
		t.Errorf("rx size 1000: got %v", err)
	}
}

func TestUMEMFrames(t *testing.T) {
	q := newTestMemQueue(t, UMEMConfig{FrameSize: 2048, FrameCount: 8, Headroom: 64}, 0, 0)
	u := q.UMEM()
	if u.Size() != 8*2048 || u.RXCapacity() != 2048-64-256 {
		t.Fatalf("size %d capacity %d", u.Size(), u.RXCapacity())
	}
	addrs := u.FrameAddrs(2, 3)
	if len(addrs) != 3 || addrs[0] != 4096 || addrs[2] != 8192 {
		t.Fatalf("FrameAddrs(2, 3) = %v", addrs)
	}
	if u.FrameBase(4096+300) != 4096 || u.FrameIndex(4096+300) != 2 {
		t.Fatal("FrameBase/FrameIndex wrong")
	}
	f := u.Frame(4096+300, 100)
	if len(f) != 100 || cap(f) != 2048-300 {
		t.Fatalf("Frame len %d cap %d", len(f), cap(f))
	}
	f[0] = 0xAB
	if u.Frame(4096+300, 1)[0] != 0xAB {
		t.Fatal("Frame copied instead of aliasing the UMEM")
	}
	mustPanic(t, "Frame crossing into the next frame", func() { u.Frame(4096+2000, 100) })
	mustPanic(t, "FrameAddrs beyond the UMEM", func() { u.FrameAddrs(6, 3) })
}

// TestMemQueueRoundTrip runs frames through all four rings many times over,
// checking every byte and the frame accounting.
func TestMemQueueRoundTrip(t *testing.T) {
	q := newTestMemQueue(t, UMEMConfig{FrameSize: 2048, FrameCount: 64, FillSize: 32, CompletionSize: 32}, 16, 16)
	u := q.UMEM()
	if n := q.Refill(u.FrameAddrs(0, 64)); n != 32 {
		t.Fatalf("Refill of 64 frames into a fill ring of 32 took %d", n)
	}
	frame := make([]byte, 100)
	descs := make([]Desc, 16)
	addrs := make([]uint64, 32)
	var seq, sent, seen uint32
	for round := 0; round < 500; round++ {
		for n := 0; n < 5; n++ {
			binary.BigEndian.PutUint32(frame, seq)
			seq += uint32(q.Deliver(frame, 1))
		}
		if ok, _ := q.Poll(0); !ok {
			t.Fatalf("round %d: Poll saw nothing after Deliver", round)
		}
		n := q.Receive(descs)
		if n != 5 {
			t.Fatalf("round %d: received %d, want 5", round, n)
		}
		for i := range descs[:n] {
			d := descs[i]
			if d.Addr-u.FrameBase(d.Addr) != PacketHeadroom || d.Len != 100 {
				t.Fatalf("round %d: descriptor %+v", round, d)
			}
			if got := binary.BigEndian.Uint32(u.Frame(d.Addr, d.Len)); got != seen {
				t.Fatalf("round %d: frame carries %d, want %d", round, got, seen)
			}
			seen++
		}
		// Send the received frames back out, then recycle them.
		if m := q.Transmit(descs[:n]); m != n {
			t.Fatalf("round %d: Transmit took %d of %d", round, m, n)
		}
		drained := q.DrainTX(func(b []byte) {
			if len(b) != 100 || binary.BigEndian.Uint32(b) != sent {
				t.Fatalf("round %d: TX frame %d wrong", round, sent)
			}
			sent++
		})
		if drained != n {
			t.Fatalf("round %d: drained %d", round, drained)
		}
		c := q.Complete(addrs)
		if c != n {
			t.Fatalf("round %d: completed %d", round, c)
		}
		if r := q.Refill(addrs[:c]); r != c {
			t.Fatalf("round %d: refill %d", round, r)
		}
	}
	st, _ := q.Stats()
	if st.RxPackets != 2500 || st.TxPackets != 2500 || st.Completed != 2500 || st.Filled != 2532 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMemQueueBackPressure(t *testing.T) {
	q := newTestMemQueue(t, UMEMConfig{FrameSize: 2048, FrameCount: 16, FillSize: 16, CompletionSize: 4}, 8, 8)
	u := q.UMEM()
	frame := make([]byte, 60)
	if n := q.Deliver(frame, 4); n != 0 {
		t.Fatalf("Deliver with an empty fill ring delivered %d", n)
	}
	q.Refill(u.FrameAddrs(0, 16))
	// The RX ring holds 8: the other 8 frames stay in the fill ring.
	if n := q.Deliver(frame, 16); n != 8 {
		t.Fatalf("Deliver into an RX ring of 8 delivered %d", n)
	}
	descs := make([]Desc, 16)
	if n := q.Receive(descs); n != 8 {
		t.Fatalf("received %d", n)
	}
	if n := q.Deliver(frame, 16); n != 8 {
		t.Fatalf("second Deliver delivered %d, want the 8 frames left in the fill ring", n)
	}
	// Oversized frames are dropped and counted, as the kernel does.
	if n := q.Deliver(make([]byte, 2048), 2); n != 0 {
		t.Fatalf("oversized frame delivered %d", n)
	}
	if st, _ := q.Stats(); st.RxDropped != 2 {
		t.Fatalf("RxDropped %d, want 2", st.RxDropped)
	}
	// The completion ring holds 4: DrainTX leaves the rest on TX.
	if n := q.Transmit(descs[:8]); n != 8 {
		t.Fatalf("Transmit took %d", n)
	}
	if n := q.DrainTX(nil); n != 4 {
		t.Fatalf("DrainTX into a completion ring of 4 sent %d", n)
	}
	addrs := make([]uint64, 8)
	if n := q.Complete(addrs); n != 4 {
		t.Fatalf("completed %d", n)
	}
	if n := q.DrainTX(nil); n != 4 {
		t.Fatalf("second DrainTX sent %d", n)
	}
}

// TestMemQueueNoAllocs asserts the data path never allocates.
func TestMemQueueNoAllocs(t *testing.T) {
	q := newTestMemQueue(t, UMEMConfig{FrameSize: 2048, FrameCount: 512, FillSize: 256, CompletionSize: 256}, 256, 256)
	q.Refill(q.UMEM().FrameAddrs(0, 256))
	frame := make([]byte, 64)
	descs := make([]Desc, 64)
	addrs := make([]uint64, 64)
	sink := func([]byte) {}
	allocs := testing.AllocsPerRun(1000, func() {
		q.Deliver(frame, 64)
		q.Poll(0)
		n := q.Receive(descs)
		q.Transmit(descs[:n])
		q.DrainTX(sink)
		c := q.Complete(addrs)
		q.Refill(addrs[:c])
	})
	if allocs != 0 {
		t.Fatalf("data path allocates %.1f times per round", allocs)
	}
	if st, _ := q.Stats(); st.RxPackets < 1000*64 {
		t.Fatalf("the loop moved only %d packets: it measured nothing", st.RxPackets)
	}
}

// BenchmarkMemQueue measures the Receive+Refill round trip over memory-backed
// rings, with Deliver playing the kernel, in batches of 64.
func BenchmarkMemQueue(b *testing.B) {
	for _, batch := range []int{32, 64, 256} {
		b.Run("batch="+itoa(batch), func(b *testing.B) {
			q := newTestMemQueue(b, UMEMConfig{FrameSize: 2048, FrameCount: 4096, FillSize: 2048, CompletionSize: 2048}, 2048, 2048)
			q.Refill(q.UMEM().FrameAddrs(0, 2048))
			frame := make([]byte, 64)
			descs := make([]Desc, batch)
			addrs := make([]uint64, batch)
			var pkts int
			b.ReportAllocs()
			for b.Loop() {
				q.Deliver(frame, batch)
				n := q.Receive(descs)
				for i := range descs[:n] {
					addrs[i] = descs[i].Addr
				}
				q.Refill(addrs[:n])
				pkts += n
			}
			b.ReportMetric(float64(pkts)/b.Elapsed().Seconds()/1e6, "Mpps")
		})
	}
}

// BenchmarkRingOps measures the user-side ring operations alone (no frame
// copy): Receive and Refill against a kernel side that only moves indices.
func BenchmarkRingOps(b *testing.B) {
	const batch = 64
	q := newTestMemQueue(b, UMEMConfig{FrameSize: 2048, FrameCount: 4096, FillSize: 2048, CompletionSize: 2048}, 2048, 2048)
	q.Refill(q.UMEM().FrameAddrs(0, 2048))
	descs := make([]Desc, batch)
	addrs := make([]uint64, batch)
	var pkts int
	b.ReportAllocs()
	for b.Loop() {
		// Kernel: move fill entries to RX without touching frames.
		got, fidx := q.kFill.Peek(batch)
		room, ridx := q.kRX.Reserve(got)
		for i := range room {
			q.kRX.Set(ridx+i, Desc{Addr: q.kFill.Get(fidx + i), Len: 64})
		}
		q.kFill.Release(room)
		q.kRX.Submit(room)
		n := q.Receive(descs)
		for i := range descs[:n] {
			addrs[i] = descs[i].Addr
		}
		q.Refill(addrs[:n])
		pkts += n
	}
	b.ReportMetric(float64(pkts)/b.Elapsed().Seconds()/1e6, "Mpps")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(pkts), "ns/pkt")
}

func itoa(n int) string {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(buf[i:])
		}
	}
}
