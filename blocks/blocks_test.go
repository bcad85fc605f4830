package blocks_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/lana-net/lana/blocks"
	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/internal/enginetest"
)

type rig struct{ *enginetest.Rig }

func newRig(t *testing.T, lines ...string) *rig {
	t.Helper()
	return &rig{enginetest.New(t, enginetest.Options{}, lines...)}
}

func (r *rig) count(t *testing.T, name string) uint64 {
	t.Helper()
	b := r.Instance(t, name)
	p, _ := b.(*blocks.Counter).Counts()
	return p
}

var (
	ourMAC   = []byte{0x02, 0, 0, 0, 0, 0x01}
	otherMAC = []byte{0x02, 0, 0, 0, 0, 0x09}
	peerMAC  = []byte{0x02, 0, 0, 0, 0, 0x02}
)

// frame builds dst, src, optional 802.1Q tags, ethertype and a payload.
func frame(dst, src []byte, etype uint16, vlans ...uint16) []byte {
	f := append(append([]byte{}, dst...), src...)
	for _, v := range vlans {
		f = append(f, 0x81, 0x00, byte(v>>8), byte(v))
	}
	f = append(f, byte(etype>>8), byte(etype))
	return append(f, make([]byte, 46)...)
}

func TestEthIngress(t *testing.T) {
	r := newRig(t, "add e eth mac=02:00:00:00:00:01 type.ipv4=0x0800 type.arp=0x0806",
		"add c4 counter", "add ca counter", "add co counter",
		"bind e:ipv4 c4", "bind e:arp ca", "bind e co", "hook e")
	cases := []struct {
		name string
		f    []byte
		n    int
	}{
		{"ipv4", frame(ourMAC, peerMAC, 0x0800), 5},
		{"arp broadcast", frame([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, peerMAC, 0x0806), 3},
		{"ipv4 in vlan", frame(ourMAC, peerMAC, 0x0800, 7), 2},
		{"ipv4 in q-in-q", frame(ourMAC, peerMAC, 0x0800, 7, 8), 1},
		{"ipv6 continues", frame(ourMAC, peerMAC, 0x86dd), 4},
		{"multicast source", frame(ourMAC, []byte{0x01, 0, 0x5e, 0, 0, 1}, 0x0800), 6},
		{"zero source", frame(ourMAC, make([]byte, 6), 0x0800), 7},
		{"not for us", frame(otherMAC, peerMAC, 0x0800), 8},
		{"short", frame(ourMAC, peerMAC, 0x0800)[:13], 9},
		{"truncated tag", frame(ourMAC, peerMAC, 0x0800, 7)[:16], 10},
	}
	for _, c := range cases {
		r.Push(t, c.f, c.n)
	}
	if got := r.count(t, "c4"); got != 8 {
		t.Errorf("ipv4 output: %d, want 8", got)
	}
	if got := r.count(t, "ca"); got != 3 {
		t.Errorf("arp output: %d, want 3", got)
	}
	if got := r.count(t, "co"); got != 4 {
		t.Errorf("continue port: %d, want 4", got)
	}
	want := map[string]uint64{"bad-src": 13, "not-for-us": 8, "short": 19}
	got := r.Drops(t, "e")
	for k, v := range want {
		if got[k] != v {
			t.Errorf("drops %v, want %v", got, want)
			break
		}
	}
	// promisc accepts every destination; set keeps outputs and bindings.
	if err := r.E.Exec("set e promisc=true"); err != nil {
		t.Fatal(err)
	}
	r.Push(t, frame(otherMAC, peerMAC, 0x0800), 2)
	if got := r.count(t, "c4"); got != 10 {
		t.Errorf("promisc: ipv4 output %d, want 10", got)
	}
}

func TestEthNoMACAcceptsAll(t *testing.T) {
	r := newRig(t, "add e eth", "add c counter", "bind e c", "hook e")
	r.Push(t, frame(otherMAC, peerMAC, 0x0800), 3)
	if got := r.count(t, "c"); got != 3 {
		t.Fatalf("got %d, want 3", got)
	}
}

// grab consumes every ingress packet, like an application socket block.
type grab struct{ addrs []uint64 }

func (g *grab) Configure(opts engine.Options) error { return engine.NewOptionParser(opts).Err() }
func (g *grab) Info() engine.Info                   { return engine.Info{} }
func (g *grab) Start(engine.Env) error              { return nil }
func (g *grab) Close() error                        { return nil }
func (g *grab) Process(v *engine.Vector) {
	if v.Dir == engine.Egress {
		return
	}
	for i := range v.Pkts {
		v.Consume(i)
		g.addrs = append(g.addrs, v.Pkts[i].Addr)
	}
}

func init() { engine.Register("test-grab", func() engine.Block { return &grab{} }) }

func TestEthEgressTransmits(t *testing.T) {
	r := newRig(t, "add e eth", "add app test-grab", "bind e app", "hook e")
	r.Push(t, frame(ourMAC, peerMAC, 0x0800), 1)
	b, _ := r.E.Instance("app")
	g := b.(*grab)
	if len(g.addrs) != 1 || r.W.Stats().Frames.Held != 1 {
		t.Fatalf("consumed %v, frames %+v", g.addrs, r.W.Stats().Frames)
	}
	// The application writes a reply into the frame it holds and sends it
	// down its block's egress path: app -> eth -> TX ring, no copy.
	p, err := r.E.Port("app")
	if err != nil {
		t.Fatal(err)
	}
	payload := frame(peerMAC, ourMAC, 0x0800)
	copy(r.Q.UMEM().Frame(g.addrs[0]+100, uint32(len(payload))), payload)
	if err := p.Send(0, g.addrs[0], 100, uint32(len(payload))); err != nil {
		t.Fatal(err)
	}
	r.W.RunOnce()
	var seen [][]byte
	if n := r.Q.DrainTX(func(b []byte) { seen = append(seen, append([]byte{}, b...)) }); n != 1 {
		t.Fatalf("transmitted %d frames, want 1", n)
	}
	if !bytes.Equal(seen[0], payload) {
		t.Fatal("transmitted bytes differ")
	}
	r.W.RunOnce()
	s := r.W.Stats()
	if s.TxPackets != 1 || s.Frames.InTX != 0 || s.Frames.Held != 0 || s.Frames.Free+s.Frames.Spare+s.Frames.Kernel != s.Frames.Total {
		t.Fatalf("stats %+v", s)
	}
}

func TestEthConfigureReportsEveryError(t *testing.T) {
	r := newRig(t, "add e eth type.ipv4=0x0800")
	err := r.E.Exec("add f eth mac=zz promisc=maybe type.a=0x12 type.b=0x0800 type.c=0x0800 colour=red")
	if !errors.Is(err, engine.ErrBadOption) {
		t.Fatalf("error %v", err)
	}
	for _, s := range []string{"mac=", "promisc=", "type.a=", "type.c=", "colour"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %s", err, s)
		}
	}
	// An invalid set is refused and the old instance stays.
	old, _ := r.E.Instance("e")
	if err := r.E.Exec("set e type.ipv4=0x0801x"); err == nil {
		t.Fatal("bad set accepted")
	}
	now, _ := r.E.Instance("e")
	if old != now {
		t.Fatal("refused set replaced the block")
	}
}

func TestTeeClones(t *testing.T) {
	r := newRig(t, "add e eth", "add t tee", "add c1 counter", "add c2 counter",
		"bind e t", "bind t c1", "bind t:clone c2", "hook e")
	f := frame(ourMAC, peerMAC, 0x0800)
	r.Push(t, f, 300)
	if a, b := r.count(t, "c1"), r.count(t, "c2"); a != 300 || b != 300 {
		t.Fatalf("originals %d clones %d, want 300 each", a, b)
	}
	tb, _ := r.E.Instance("t")
	if made, failed := tb.(*blocks.Tee).Counts(); made != 300 || failed != 0 {
		t.Fatalf("tee made %d failed %d", made, failed)
	}
	if s := r.W.Stats(); s.Frames.Free+s.Frames.Spare+s.Frames.Kernel != s.Frames.Total {
		t.Fatalf("frames %+v: clones leaked", s.Frames)
	}
}

func TestCounterReplace(t *testing.T) {
	r := newRig(t, "add e eth", "add c counter", "bind e c", "hook e")
	f := frame(ourMAC, peerMAC, 0x0800)
	r.Push(t, f, 10)
	if err := r.E.Exec("add c2 counter", "replace c c2"); err != nil {
		t.Fatal(err)
	}
	r.Push(t, f, 5)
	if got := r.count(t, "c"); got != 15 {
		t.Fatalf("after replace: %d, want 15", got)
	}
	if err := r.E.Exec("add c3 counter", "replace-drop c c3"); err != nil {
		t.Fatal(err)
	}
	r.Push(t, f, 2)
	if got := r.count(t, "c"); got != 2 {
		t.Fatalf("after replace-drop: %d, want 2", got)
	}
	if err := r.E.Exec("add d dummy", "replace c d"); !errors.Is(err, engine.ErrTypeMismatch) {
		t.Fatalf("replace across types: %v", err)
	}
	st, _ := r.E.BlockStats("c")
	if st.Packets != 17 || st.Vectors == 0 {
		t.Fatalf("engine stats of c %+v: must survive replace", st)
	}
}

func TestDummyAndTypes(t *testing.T) {
	want := []string{"counter", "dummy", "eth", "tee"}
	got := engine.Types()
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("type %s not registered (have %v)", w, got)
		}
	}
	r := newRig(t, "add d dummy", "add c counter", "bind d c", "hook d")
	r.Push(t, []byte{1, 2, 3}, 4)
	if got := r.count(t, "c"); got != 4 {
		t.Fatalf("dummy forwarded %d, want 4", got)
	}
	if err := r.E.Exec("add x dummy foo=1"); !errors.Is(err, engine.ErrBadOption) {
		t.Fatalf("dummy accepted an option: %v", err)
	}
}
