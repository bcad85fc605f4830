package sockexport_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	_ "github.com/lana-net/lana/blocks"
	"github.com/lana-net/lana/blocks/sockexport"
	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/internal/enginetest"
)

type rig struct{ *enginetest.Rig }

func newRig(t *testing.T, lines ...string) *rig {
	t.Helper()
	return &rig{enginetest.New(t, enginetest.Options{}, lines...)}
}

func (r *rig) export(t *testing.T, name string) *sockexport.Export {
	t.Helper()
	b := r.Instance(t, name)
	return b.(*sockexport.Block).Export()
}

// frame builds an Ethernet frame of ethertype et whose payload starts with tag.
func frame(et uint16, tag byte, size int) []byte {
	f := make([]byte, size)
	copy(f, []byte{0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, byte(et >> 8), byte(et)})
	for i := 14; i < size; i++ {
		f[i] = tag + byte(i)
	}
	return f
}

var stack = []string{"add e0 eth type.p5=0xAC05", "add app socket-export queue=8", "bind e0:p5 app", "hook e0"}

func TestSinkReceiveAndSend(t *testing.T) {
	r := newRig(t, stack...)
	x := r.export(t, "app")
	if err := x.Attach(r.E); err != nil {
		t.Fatal(err)
	}
	var sent [][]byte
	for i := range 3 {
		f := frame(0xAC05, byte(i), 60+i)
		sent = append(sent, f)
		r.Push(t, f, 1)
	}
	select {
	case <-x.Ready():
	default:
		t.Fatal("no wakeup after frames were queued")
	}
	buf := make([]byte, 4096)
	for i, want := range sent {
		m, n, ok := x.Next(buf)
		if !ok || !bytes.Equal(buf[:n], want) || m.Orig != uint32(len(want)) || m.Dir != engine.Ingress || m.Time == 0 {
			t.Fatalf("frame %d: ok %v meta %+v bytes %x, want %x", i, ok, m, buf[:n], want)
		}
	}
	if _, _, ok := x.Next(buf); ok {
		t.Fatal("Next found a fourth frame")
	}
	// The copied frames went back to the worker at once.
	if got := r.W.Stats().Frames.Held; got != 0 {
		t.Fatalf("held frames %d, want 0", got)
	}
	// Answer each frame: the answers leave through eth's egress on TX.
	for i := range 3 {
		if err := x.Send(frame(0xAC05, 100+byte(i), 70)); err != nil {
			t.Fatal(err)
		}
	}
	r.W.RunOnce()
	var got [][]byte
	r.Q.DrainTX(func(f []byte) { got = append(got, append([]byte(nil), f...)) })
	if len(got) != 3 {
		t.Fatalf("transmitted %d frames, want 3", len(got))
	}
	for i, f := range got {
		if want := frame(0xAC05, 100+byte(i), 70); !bytes.Equal(f, want) {
			t.Fatalf("answer %d: %x, want %x", i, f, want)
		}
	}
	r.W.RunOnce()
	fc := r.W.Stats().Frames
	if fc.Held != 0 || fc.Free+fc.Spare+fc.Kernel+fc.InTX != fc.Total {
		t.Fatalf("frames after sends: %+v", fc)
	}
	st := x.Stats()
	if st.Delivered != 3 || st.Sent != 3 || st.NoFrame != 0 || st.Queued != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSlowReaderDropsCounted(t *testing.T) {
	r := newRig(t, stack...)
	x := r.export(t, "app")
	if err := x.Attach(r.E); err != nil {
		t.Fatal(err)
	}
	r.Push(t, frame(0xAC05, 1, 64), 50)
	d := r.Drops(t, "app")
	// queue=8: 8 queued (their frames freed as delivered), 42 refused.
	if d["queue-full"] != 42 || d["delivered"] != 8 {
		t.Fatalf("drops %v, want queue-full 42, delivered 8", d)
	}
	if st := r.W.Stats(); st.RxPackets != 50 {
		t.Fatalf("worker received %d, want 50", st.RxPackets)
	}
	// Reading frees queue space: the next frames are queued again.
	buf := make([]byte, 2048)
	for range 8 {
		if _, _, ok := x.Next(buf); !ok {
			t.Fatal("queue shorter than 8")
		}
	}
	r.Push(t, frame(0xAC05, 2, 64), 3)
	if st := x.Stats(); st.Delivered != 11 || st.QueueFull != 42 || st.Queued != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNoClientAndDetach(t *testing.T) {
	r := newRig(t, stack...)
	r.Push(t, frame(0xAC05, 1, 64), 5)
	if d := r.Drops(t, "app"); d["no-client"] != 5 {
		t.Fatalf("drops %v, want no-client 5", d)
	}
	x := r.export(t, "app")
	if err := x.Attach(r.E); err != nil {
		t.Fatal(err)
	}
	if err := x.Attach(r.E); !errors.Is(err, sockexport.ErrAttached) {
		t.Fatalf("second attach: %v, want ErrAttached", err)
	}
	r.Push(t, frame(0xAC05, 1, 64), 2)
	x.Detach()
	r.Push(t, frame(0xAC05, 1, 64), 3)
	if st := x.Stats(); st.NoClient != 8 || st.Delivered != 2 {
		t.Fatalf("stats %+v", st)
	}
	if err := x.Send(frame(0xAC05, 1, 64)); !errors.Is(err, sockexport.ErrNotAttached) {
		t.Fatalf("send after detach: %v", err)
	}
}

func TestSetKeepsClientRemoveFreesKept(t *testing.T) {
	r := newRig(t, stack...)
	x := r.export(t, "app")
	if err := x.Attach(r.E); err != nil {
		t.Fatal(err)
	}
	r.Push(t, frame(0xAC05, 1, 64), 2)
	if err := r.E.Exec("set app queue=16"); err != nil {
		t.Fatal(err)
	}
	if r.export(t, "app") != x {
		t.Fatal("set made a new Export: the client would be cut off")
	}
	r.Push(t, frame(0xAC05, 1, 64), 1)
	if st := x.Stats(); st.Delivered != 3 {
		t.Fatalf("after set: %+v", st)
	}
	// A frame too long to send: the allocated UMEM frame stays with the
	// Export for the next Send, and goes back when the block leaves.
	if err := x.Send(make([]byte, 2048)); !errors.Is(err, sockexport.ErrTooLong) {
		t.Fatalf("send of 2048 bytes: %v, want ErrTooLong", err)
	}
	if fc := r.W.Stats().Frames; fc.Held != 1 {
		t.Fatalf("frames after a refused send: %+v, want 1 held", fc)
	}
	if err := r.E.Exec("unbind e0:p5 app", "rm app"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-x.Done():
	default:
		t.Fatal("Done not closed after rm")
	}
	if err := x.Send([]byte{1}); !errors.Is(err, sockexport.ErrClosed) {
		t.Fatalf("send after rm: %v", err)
	}
	r.W.RunOnce() // takes the released frames
	if fc := r.W.Stats().Frames; fc.Held != 0 || fc.Free+fc.Spare+fc.Kernel+fc.InTX != fc.Total {
		t.Fatalf("frames after rm: %+v", fc)
	}
}

func TestTapSeesBothDirections(t *testing.T) {
	r := newRig(t, "add e0 eth type.p5=0xAC05", "add cap socket-export tap=true", "add app socket-export",
		"bind e0:p5 cap", "bind cap app", "hook e0")
	capx, app := r.export(t, "cap"), r.export(t, "app")
	if err := capx.Attach(r.E); err != nil {
		t.Fatal(err)
	}
	if err := app.Attach(r.E); err != nil {
		t.Fatal(err)
	}
	in := frame(0xAC05, 7, 80)
	r.Push(t, in, 1)
	buf := make([]byte, 2048)
	if _, n, ok := app.Next(buf); !ok || !bytes.Equal(buf[:n], in) {
		t.Fatal("the application did not get the frame through the tap")
	}
	out := frame(0xAC05, 9, 90)
	if err := app.Send(out); err != nil {
		t.Fatal(err)
	}
	r.W.RunOnce()
	if n := r.Q.DrainTX(nil); n != 1 {
		t.Fatalf("transmitted %d, want 1", n)
	}
	for _, want := range []struct {
		b   []byte
		dir engine.Direction
	}{{in, engine.Ingress}, {out, engine.Egress}} {
		m, n, ok := capx.Next(buf)
		if !ok || m.Dir != want.dir || !bytes.Equal(buf[:n], want.b) {
			t.Fatalf("tap: ok %v dir %v bytes %x, want %v %x", ok, m.Dir, buf[:n], want.dir, want.b)
		}
	}
	if err := capx.Send(out); !errors.Is(err, sockexport.ErrTap) {
		t.Fatalf("send on tap: %v", err)
	}
}

func TestConfigureRefusals(t *testing.T) {
	r := newRig(t)
	for _, line := range []string{"add a socket-export queue=100", "add a socket-export queue=0", "add a socket-export snap=70000",
		"add a socket-export pool=64", "add a socket-export tap=maybe", "add a socket-export color=red"} {
		if err := r.E.Exec(line); err == nil {
			t.Errorf("%q accepted", line)
		}
	}
}

func TestProcessDoesNotAllocate(t *testing.T) {
	r := newRig(t, stack...)
	x := r.export(t, "app")
	if err := x.Attach(r.E); err != nil {
		t.Fatal(err)
	}
	f := frame(0xAC05, 1, 64)
	buf := make([]byte, 2048)
	allocs := testing.AllocsPerRun(200, func() {
		r.Q.Deliver(f, 4)
		r.W.RunOnce()
		for {
			if _, _, ok := x.Next(buf); !ok {
				break
			}
		}
		for range 4 {
			if err := x.Send(f); err != nil {
				t.Fatal(err)
			}
		}
		r.W.RunOnce()
		r.Q.DrainTX(nil)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per round, want 0", allocs)
	}
}

// TestSendOnly: an application that never receives sends 10,000 frames;
// every one reaches the TX ring intact and in order. Send draws UMEM frames
// from the worker's spare ring: between worker rounds at most the ring's
// worth go out (then ErrNoFrame, retry later), and the ring refills from
// the completed sends.
func TestSendOnly(t *testing.T) {
	const total = 10_000
	r := newRig(t, stack...)
	x := r.export(t, "app")
	if err := x.Attach(r.E); err != nil {
		t.Fatal(err)
	}
	out := frame(0xAC05, 0, 60)
	next, sent, refusals := 0, 0, 0
	check := func(f []byte) {
		seq := int(binary.BigEndian.Uint32(f[14:]))
		if seq != next || len(f) != len(out) || !bytes.Equal(f[18:], out[18:]) {
			t.Fatalf("transmitted frame %d: %x, want sequence %d", seq, f, next)
		}
		next++
	}
	for sent < total {
		for sent < total {
			binary.BigEndian.PutUint32(out[14:], uint32(sent))
			err := x.Send(out)
			if errors.Is(err, sockexport.ErrNoFrame) {
				refusals++
				break
			}
			if err != nil {
				t.Fatalf("send %d: %v", sent, err)
			}
			sent++
		}
		r.W.RunOnce() // hand-offs to TX
		r.Q.DrainTX(check)
		r.W.RunOnce() // completions back, spare ring topped up
	}
	r.W.RunOnce()
	r.Q.DrainTX(check)
	r.W.RunOnce()
	if next != total {
		t.Fatalf("transmitted %d of %d", next, total)
	}
	st := x.Stats()
	if st.Sent != total || st.NoFrame != uint64(refusals) || refusals == 0 || st.Delivered != 0 {
		t.Fatalf("stats %+v (%d refusals seen)", st, refusals)
	}
	ws := r.W.Stats()
	if ws.RxPackets != 0 || ws.TxPackets != total {
		t.Fatalf("worker received %d, sent %d", ws.RxPackets, ws.TxPackets)
	}
	if fc := ws.Frames; fc.Held != 0 || fc.InTX != 0 || fc.Free+fc.Spare+fc.Kernel != fc.Total {
		t.Fatalf("frames after sending: %+v", fc)
	}
}

var _ engine.Reporter = (*sockexport.Block)(nil)
