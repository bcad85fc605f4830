package blocks_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/lana-net/lana/blocks"
	"github.com/lana-net/lana/engine"
)

// peek records a copy of every ingress packet's data and its Port and L3,
// and consumes nothing.
type peek struct {
	data  [][]byte
	ports []uint16
	l3s   []uint16
}

func (k *peek) Configure(opts engine.Options) error { return engine.NewOptionParser(opts).Err() }
func (k *peek) Info() engine.Info                   { return engine.Info{} }
func (k *peek) Start(engine.Env) error              { return nil }
func (k *peek) Close() error                        { return nil }
func (k *peek) Process(v *engine.Vector) {
	if v.Dir == engine.Egress {
		return
	}
	for i := range v.Pkts {
		p := &v.Pkts[i]
		k.data = append(k.data, append([]byte{}, p.Data()...))
		k.ports = append(k.ports, p.Port)
		k.l3s = append(k.l3s, p.L3)
	}
}

func init() { engine.Register("test-peek", func() engine.Block { return &peek{} }) }

func vlinkCounts(t *testing.T, r *rig, name string) blocks.VLinkCounts {
	t.Helper()
	b, err := r.E.Instance(name)
	if err != nil {
		t.Fatal(err)
	}
	return b.(*blocks.VLink).Counts()
}

func TestVLinkIngressDemux(t *testing.T) {
	r := newRig(t, "add e eth type.v5=0xac05 type.v6=0xac06 type.bad=0xac07",
		"add v5 vlink port=5", "add v6 vlink port=6", "add wrong vlink port=5",
		"add c5 counter", "add c6 counter", "add co counter",
		"bind e:v5 v5", "bind v5 c5", "bind e:v6 v6", "bind v6 c6", "bind e:bad wrong", "bind e co", "hook e")
	f5 := frame(ourMAC, peerMAC, 0xac05)
	r.Push(t, f5, 3)
	r.Push(t, frame(ourMAC, peerMAC, 0xac06, 9), 2) // in a VLAN: eth's L3 says where the type is
	r.Push(t, frame(ourMAC, peerMAC, 0xac07), 4)    // routed to a vlink of another port
	r.Push(t, frame(ourMAC, peerMAC, 0x0800), 1)    // not a vlink frame
	if a, b, o := r.count(t, "c5"), r.count(t, "c6"), r.count(t, "co"); a != 3 || b != 2 || o != 1 {
		t.Fatalf("c5 %d c6 %d continue %d, want 3 2 1", a, b, o)
	}
	if d := r.Drops(t, "wrong"); d["other-port"] != 4 {
		t.Fatalf("wrong's drops %v, want other-port 4", d)
	}
	c := vlinkCounts(t, r, "v5")
	if c.RxPackets != 3 || c.RxBytes != 3*uint64(len(f5)) || c.TxPackets != 0 {
		t.Fatalf("v5 counts %+v", c)
	}
	if c := vlinkCounts(t, r, "v6"); c.RxPackets != 2 {
		t.Fatalf("v6 counts %+v", c)
	}
}

func TestVLinkKeepAndStrip(t *testing.T) {
	r := newRig(t, "add e eth type.v5=0xac05 type.v6=0xac06",
		"add v5 vlink port=5", "add v6 vlink port=6 strip=true src=02:00:00:00:00:01",
		"add k5 test-peek", "add k6 test-peek",
		"bind e:v5 v5", "bind v5 k5", "bind e:v6 v6", "bind v6 k6", "hook e")
	f5, f6 := frame(ourMAC, peerMAC, 0xac05), frame(ourMAC, peerMAC, 0xac06)
	f6[14] = 0xee // first payload byte
	r.Push(t, f5, 1)
	r.Push(t, f6, 1)
	b5, _ := r.E.Instance("k5")
	k5 := b5.(*peek)
	if len(k5.data) != 1 || !bytes.Equal(k5.data[0], f5) || k5.ports[0] != 5 || k5.l3s[0] != 14 {
		t.Fatalf("kept: %d frames, port %v, l3 %v", len(k5.data), k5.ports, k5.l3s)
	}
	b6, _ := r.E.Instance("k6")
	k6 := b6.(*peek)
	if len(k6.data) != 1 || !bytes.Equal(k6.data[0], f6[14:]) || k6.ports[0] != 6 || k6.l3s[0] != 0 {
		t.Fatalf("stripped: %d frames, port %v, l3 %v", len(k6.data), k6.ports, k6.l3s)
	}
}

// sendDown makes app consume one received frame, writes data into it at
// offset 300 and sends it down app's egress path; it returns what reached
// the TX ring.
func sendDown(t *testing.T, r *rig, app string, data []byte) [][]byte {
	t.Helper()
	b, _ := r.E.Instance(app)
	g := b.(*grab)
	r.Push(t, frame(ourMAC, peerMAC, 0xac05), 1)
	addr := g.addrs[len(g.addrs)-1]
	copy(r.Q.UMEM().Frame(addr+300, uint32(len(data))), data)
	p, err := r.E.Port(app)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(0, addr, 300, uint32(len(data))); err != nil {
		t.Fatal(err)
	}
	r.W.RunOnce()
	var seen [][]byte
	r.Q.DrainTX(func(b []byte) { seen = append(seen, append([]byte{}, b...)) })
	r.W.RunOnce()
	return seen
}

func TestVLinkEgressKeep(t *testing.T) {
	r := newRig(t, "add e eth type.v5=0xac05", "add v5 vlink port=5 src=02:00:00:00:00:01 mtu=100",
		"add app test-grab", "bind e:v5 v5", "bind v5 app", "hook e")
	// An IPv4-typed frame from above leaves as a vlink frame from src.
	out := sendDown(t, r, "app", frame(peerMAC, otherMAC, 0x0800))
	want := frame(peerMAC, ourMAC, 0xac05)
	if len(out) != 1 || !bytes.Equal(out[0], want) {
		t.Fatalf("transmitted %x, want %x", out, want)
	}
	// Tagged frames keep their tag; the type after it is rewritten.
	out = sendDown(t, r, "app", frame(peerMAC, otherMAC, 0x0800, 7))
	if len(out) != 1 || binary.BigEndian.Uint16(out[0][16:]) != 0xac05 || binary.BigEndian.Uint16(out[0][12:]) != 0x8100 {
		t.Fatalf("tagged: transmitted %x", out)
	}
	long := append(frame(peerMAC, otherMAC, 0x0800), make([]byte, 100)...)
	if out := sendDown(t, r, "app", long); len(out) != 0 {
		t.Fatalf("frame beyond mtu transmitted")
	}
	if out := sendDown(t, r, "app", peerMAC); len(out) != 0 {
		t.Fatalf("short frame transmitted")
	}
	if d := r.Drops(t, "v5"); d["too-long"] != 1 || d["short"] != 1 {
		t.Fatalf("drops %v", d)
	}
	if c := vlinkCounts(t, r, "v5"); c.TxPackets != 2 || c.RxPackets != 4 {
		t.Fatalf("counts %+v", c)
	}
	if s := r.W.Stats(); s.Frames.Held != 0 {
		t.Fatalf("frames %+v", s.Frames)
	}
}

func TestVLinkEgressStrip(t *testing.T) {
	r := newRig(t, "add e eth type.v5=0xac05", "add v5 vlink port=5 strip=true src=02:00:00:00:00:01",
		"add app test-grab", "bind e:v5 v5", "bind v5 app", "hook e")
	out := sendDown(t, r, "app", []byte("hello"))
	want := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0xac, 0x05}, "hello"...)
	if len(out) != 1 || !bytes.Equal(out[0], want) {
		t.Fatalf("transmitted %x, want %x", out, want)
	}
	if err := r.E.Exec("set v5 dst=02:00:00:00:00:02"); err != nil {
		t.Fatal(err)
	}
	out = sendDown(t, r, "app", []byte("hi"))
	if len(out) != 1 || !bytes.Equal(out[0][:6], peerMAC) {
		t.Fatalf("after set dst: %x", out)
	}
	// set keeps the counters.
	if c := vlinkCounts(t, r, "v5"); c.TxPackets != 2 || c.RxPackets != 2 {
		t.Fatalf("counts %+v", c)
	}
}

func TestVLinkConfigure(t *testing.T) {
	r := newRig(t)
	cases := map[string][]string{
		"add a vlink":                       {"port=", "required"},
		"add a vlink port=1024":             {`port="1024"`, "[0, 1023]"},
		"add a vlink port=x":                {`port="x"`},
		"add a vlink port=1 strip=true":     {"strip=", "src=MAC or dev=IFNAME"},
		"add a vlink port=1 tap=t0 strip=1": {`tap="t0"`, "strip=false"},
		"add a vlink port=1 src=01:00:5e:00:00:01 mtu=10 colour=red": {"src=", "unicast", `mtu="10"`, "colour"},
		"add a vlink port=1 tap=abcdefghijklmnopq":                   {"tap=", "15 characters"},
	}
	for verb, wants := range cases {
		err := r.E.Exec(verb)
		if !errors.Is(err, engine.ErrBadOption) {
			t.Errorf("%s: error %v, want ErrBadOption", verb, err)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", verb, err, w)
			}
		}
	}
	if err := r.E.Exec("add a vlink port=0x3ff"); err != nil {
		t.Fatal(err)
	}
	if err := r.E.Exec("add b vlink port=1 dev=no-such-dev0"); err == nil || !strings.Contains(err.Error(), "no-such-dev0") {
		t.Fatalf("missing dev: %v", err)
	}
}

func TestVLinkSteering(t *testing.T) {
	r := newRig(t, "add e eth type.v5=0xac05 type.v6=0xac06", "add v5 vlink port=5", "add v6 vlink port=6",
		"add c counter")
	types := func() []uint16 {
		var out []uint16
		r.E.View(func(g *engine.Graph) { out = g.EtherTypes() })
		return out
	}
	steps := []struct {
		verbs []string
		want  []uint16
	}{
		{nil, nil},                       // nothing hooked
		{[]string{"hook e"}, []uint16{}}, // vlinks exist but no frame reaches them
		{[]string{"bind e:v5 v5", "bind v5 c"}, []uint16{0xac05}},
		{[]string{"bind e:v6 v6"}, []uint16{0xac05, 0xac06}},
		{[]string{"set v6 port=7"}, []uint16{0xac05, 0xac07}},
		{[]string{"unbind e:v5 v5"}, []uint16{0xac07}},
		{[]string{"unbind e:v6 v6", "rm v6"}, []uint16{}},
		{[]string{"unhook"}, nil},
	}
	for _, s := range steps {
		if len(s.verbs) > 0 {
			if err := r.E.Exec(s.verbs...); err != nil {
				t.Fatal(err)
			}
		}
		if got := types(); !slices.Equal(got, s.want) {
			t.Fatalf("after %v: ethertypes %#x, want %#x", s.verbs, got, s.want)
		}
	}
}

func TestVLinkNoAllocs(t *testing.T) {
	r := newRig(t, "add e eth type.v5=0xac05", "add v5 vlink port=5", "add c counter",
		"bind e:v5 v5", "bind v5 c", "hook e")
	f := frame(ourMAC, peerMAC, 0xac05)
	r.Push(t, f, 64)
	if n := testing.AllocsPerRun(100, func() { r.Push(t, f, 64) }); n != 0 {
		t.Fatalf("%v allocations per vector", n)
	}
}
