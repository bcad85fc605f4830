package bpf_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lana-net/lana/blocks"
	bpfblock "github.com/lana-net/lana/blocks/bpf"
	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/internal/cbpf"
	"github.com/lana-net/lana/internal/enginetest"
	"github.com/lana-net/lana/internal/frames"
	"github.com/lana-net/lana/xsk"
)

// udpDstPort9 is `tcpdump -dd 'udp dst port 9'` (tcpdump 4.99.3).
const udpDstPort9 = `{ 0x28, 0, 0, 0x0000000c },
{ 0x15, 0, 4, 0x000086dd },
{ 0x30, 0, 0, 0x00000014 },
{ 0x15, 0, 11, 0x00000011 },
{ 0x28, 0, 0, 0x00000038 },
{ 0x15, 8, 9, 0x00000009 },
{ 0x15, 0, 8, 0x00000800 },
{ 0x30, 0, 0, 0x00000017 },
{ 0x15, 0, 6, 0x00000011 },
{ 0x28, 0, 0, 0x00000014 },
{ 0x45, 4, 0, 0x00001fff },
{ 0xb1, 0, 0, 0x0000000e },
{ 0x48, 0, 0, 0x00000010 },
{ 0x15, 0, 1, 0x00000009 },
{ 0x06, 0, 0, 0x00040000 },
{ 0x06, 0, 0, 0x00000000 },
`

// udpDstPort9DDD is `tcpdump -ddd 'udp dst port 9'` joined with commas.
const udpDstPort9DDD = "16,40 0 0 12,21 0 4 34525,48 0 0 20,21 0 11 17,40 0 0 56,21 8 9 9,21 0 8 2048," +
	"48 0 0 23,21 0 6 17,40 0 0 20,69 4 0 8191,177 0 0 14,72 0 0 16,21 0 1 9,6 0 0 262144,6 0 0 0"

type rig struct{ *enginetest.Rig }

// newRig builds a one-worker engine over a memory queue with the stack
// f (bpf, opts) -> c (counter), hooked at f.
func newRig(tb testing.TB, opts ...string) *rig {
	tb.Helper()
	add := engine.Verb{Op: "add", Args: append([]string{"f", "bpf"}, opts...)}
	return &rig{enginetest.New(tb, enginetest.Options{Frames: 1024, Ring: 512},
		add.String(), "add c counter", "bind f c", "hook f")}
}

// state returns what passed the filter (the counter behind it), the
// engine's "filtered" drops and the filter's own counters.
func (r *rig) state(tb testing.TB) (behind, drops, passed, filtered uint64) {
	tb.Helper()
	b, err := r.E.Instance("c")
	if err != nil {
		tb.Fatal(err)
	}
	behind, _ = b.(*blocks.Counter).Counts()
	s, err := r.E.BlockStats("f")
	if err != nil {
		tb.Fatal(err)
	}
	fb, err := r.E.Instance("f")
	if err != nil {
		tb.Fatal(err)
	}
	passed, filtered = fb.(*bpfblock.Filter).Counts()
	return behind, s.Drops["filtered"], passed, filtered
}

func (r *rig) expect(tb testing.TB, passed, filtered uint64) {
	tb.Helper()
	b, d, p, f := r.state(tb)
	if b != passed || p != passed || d != filtered || f != filtered {
		tb.Fatalf("behind the filter %d, passed %d (want %d); engine drops %d, filtered %d (want %d)", b, p, passed, d, f, filtered)
	}
}

func udpFrame(tb testing.TB, dstPort uint16) []byte {
	tb.Helper()
	fs, err := frames.Build(frames.Spec{DstPort: dstPort}, 1)
	if err != nil {
		tb.Fatal(err)
	}
	return fs[0]
}

func arpFrame() []byte {
	f := make([]byte, 60)
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x06})
	return f
}

func TestFilterForms(t *testing.T) {
	for _, opt := range []string{"filter=udp dst port 9", "program=" + udpDstPort9, "program=" + udpDstPort9DDD} {
		t.Run(strings.SplitN(opt, "=", 2)[0], func(t *testing.T) {
			r := newRig(t, opt)
			r.Push(t, udpFrame(t, 9), 5)
			r.Push(t, udpFrame(t, 10), 3)
			r.Push(t, arpFrame(), 2)
			r.Push(t, udpFrame(t, 9)[:37], 4) // cut inside the destination port: rejected
			r.expect(t, 5, 9)
		})
	}
}

func TestFilterNoProgramPassesAll(t *testing.T) {
	r := newRig(t)
	r.Push(t, udpFrame(t, 10), 3)
	r.Push(t, arpFrame(), 2)
	r.expect(t, 5, 0)
}

func TestFilterSetRefusesAndKeepsOldProgram(t *testing.T) {
	r := newRig(t, "filter=udp dst port 9")
	r.Push(t, udpFrame(t, 9), 2)
	r.Push(t, udpFrame(t, 10), 1)
	r.expect(t, 2, 1)

	badJump := strings.Replace(udpDstPort9, "{ 0x15, 0, 4, 0x000086dd }", "{ 0x15, 0, 40, 0x000086dd }", 1)
	cases := []struct {
		opts []string
		want []error
		msg  string
	}{
		{[]string{"filter=", "program=" + badJump}, []error{engine.ErrBadOption, cbpf.ErrJump}, "instruction 1 (op 0x15 jeq #k): jump out of range: false target 42"},
		{[]string{"filter=", "program={ 0x99, 0, 0, 0 },{ 0x06, 0, 0, 0 }"}, []error{cbpf.ErrOpcode}, "instruction 0 (op 0x99"},
		{[]string{"filter=", "program={ 0x28, 0, 0, 12 }"}, []error{cbpf.ErrNoReturn}, "instruction 0 (op 0x28 ldh [k])"},
		{[]string{"filter=", "program={ 0x34, 0, 0, 0 },{ 0x16, 0, 0, 0 }"}, []error{cbpf.ErrDivZero}, "div #k"},
		{[]string{"filter=", "program=" + strings.Repeat("{ 0x06, 0, 0, 0 },", 4097)}, []error{cbpf.ErrTooLong}, "4097 instructions"},
		{[]string{"filter=udp dst port nine"}, []error{engine.ErrBadOption, cbpf.ErrSyntax}, `port "nine"`},
		{[]string{"filter=tcp and"}, []error{cbpf.ErrSyntax}, "primitive is expected"},
		{[]string{"program=" + udpDstPort9DDD}, []error{engine.ErrBadOption}, "exclusive"},
		{[]string{"dir=sideways"}, []error{engine.ErrBadOption}, "ingress, egress or both"},
	}
	for _, c := range cases {
		err := r.E.Apply(engine.Verb{Op: "set", Args: append([]string{"f"}, c.opts...)})
		if err == nil {
			t.Fatalf("set %q accepted", c.opts)
		}
		for _, w := range c.want {
			if !errors.Is(err, w) {
				t.Errorf("set %q: %v is not %v", c.opts, err, w)
			}
		}
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("set %q: %q does not say %q", c.opts, err, c.msg)
		}
	}
	// The old filter still runs, with its counts.
	r.Push(t, udpFrame(t, 9), 1)
	r.Push(t, udpFrame(t, 10), 1)
	r.expect(t, 3, 2)

	// A valid set swaps the program in and carries the counters over.
	if err := r.E.Apply(engine.Verb{Op: "set", Args: []string{"f", "filter=", "program=" + udpDstPort9DDD, "dir=ingress"}}); err != nil {
		t.Fatal(err)
	}
	r.Push(t, udpFrame(t, 9), 4)
	r.Push(t, arpFrame(), 1)
	r.expect(t, 7, 3)
	if err := r.E.Apply(engine.Verb{Op: "set", Args: []string{"f", "program=", "filter=arp"}}); err != nil {
		t.Fatal(err)
	}
	r.Push(t, udpFrame(t, 9), 4)
	r.Push(t, arpFrame(), 1)
	r.expect(t, 8, 7)
	fb, _ := r.E.Instance("f")
	if p := fb.(*bpfblock.Filter).Program(); !strings.Contains(p, "0x00000806") {
		t.Fatalf("running program does not test for ARP:\n%s", p)
	}
}

func TestFilterReplaceCarriesCounters(t *testing.T) {
	r := newRig(t, "filter=udp")
	r.Push(t, udpFrame(t, 9), 2)
	r.Push(t, arpFrame(), 3)
	if err := r.E.Apply(engine.Verb{Op: "add", Args: []string{"g", "bpf", "filter=arp"}},
		engine.Verb{Op: "replace", Args: []string{"f", "g"}}); err != nil {
		t.Fatal(err)
	}
	r.Push(t, udpFrame(t, 9), 2)
	r.Push(t, arpFrame(), 3)
	r.expect(t, 5, 5)
}

func TestFilterProcessDoesNotAllocate(t *testing.T) {
	r := newRig(t, "filter=udp dst port 9 or arp")
	f9, f10 := udpFrame(t, 9), udpFrame(t, 10)
	if a := testing.AllocsPerRun(100, func() {
		r.Q.Deliver(f9, 32)
		r.Q.Deliver(f10, 32)
		for r.W.RunOnce() > 0 {
		}
	}); a != 0 {
		t.Fatalf("%v allocations per vector", a)
	}
	r.expect(t, 32*101, 32*101)
}

// TestFilterWorkersRunConcurrently drives two workers from two goroutines
// through one filter instance: each must use its own machine and counter
// slot (run under -race).
func TestFilterWorkersRunConcurrently(t *testing.T) {
	var qs [2]*xsk.MemQueue
	var wcs []engine.WorkerConfig
	for i := range qs {
		q, err := xsk.NewMemQueue(xsk.UMEMConfig{FrameSize: 2048, FrameCount: 512, FillSize: 512, CompletionSize: 512}, 256, 256)
		if err != nil {
			t.Fatal(err)
		}
		qs[i] = q
		wcs = append(wcs, engine.WorkerConfig{Queue: q, UMEM: q.UMEM(), QueueID: uint16(i)})
	}
	e, err := engine.New(engine.Config{Workers: wcs})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Apply(engine.Verb{Op: "add", Args: []string{"f", "bpf", "filter=udp dst port 9"}},
		engine.Verb{Op: "hook", Args: []string{"f"}}); err != nil {
		t.Fatal(err)
	}
	f9, f10 := udpFrame(t, 9), udpFrame(t, 10)
	const rounds = 200
	done := make(chan struct{})
	for i := range qs {
		go func() {
			defer func() { done <- struct{}{} }()
			w := e.Worker(i)
			w.RunOnce()
			for range rounds {
				qs[i].Deliver(f9, 3)
				qs[i].Deliver(f10, 2)
				for w.RunOnce() > 0 {
				}
			}
		}()
	}
	<-done
	<-done
	fb, _ := e.Instance("f")
	if p, f := fb.(*bpfblock.Filter).Counts(); p != 2*3*rounds || f != 2*2*rounds {
		t.Fatalf("passed %d filtered %d, want %d and %d", p, f, 2*3*rounds, 2*2*rounds)
	}
}

var _ engine.Reporter = (*bpfblock.Filter)(nil)
