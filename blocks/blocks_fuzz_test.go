package blocks_test

import (
	"encoding/binary"
	"testing"

	"github.com/lana-net/lana/blocks"
	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/xsk"
)

// meta records what eth parsed into each packet that reaches it (single
// worker: the fuzz rig runs one).
type meta struct{ seen []pktMeta }

type pktMeta struct {
	etherType, vlan, l3 uint16
	n                   int
}

func (m *meta) Configure(opts engine.Options) error { return engine.NewOptionParser(opts).Err() }
func (m *meta) Info() engine.Info                   { return engine.Info{} }
func (m *meta) Start(engine.Env) error              { return nil }
func (m *meta) Close() error                        { return nil }
func (m *meta) Process(v *engine.Vector) {
	for i := range v.Pkts {
		p := &v.Pkts[i]
		m.seen = append(m.seen, pktMeta{p.EtherType, p.VLAN, p.L3, p.Len()})
	}
}

func init() { engine.Register("test-fuzz-meta", func() engine.Block { return &meta{} }) }

// Outcomes of the reference parse.
const (
	outShort = iota
	outBadSrc
	outNotForUs
	outIP   // output ip (0x0800)
	outV    // output v (0xAC01), through the tee
	outRest // continue
)

// fuzzMAC is the eth block's own address in FuzzEthFrames.
var fuzzMAC = [6]byte{0x02, 0, 0, 0, 0, 0x02}

// refEth is an independent reading of the eth block's rules: the outcome,
// and on delivery the ethertype, the innermost VLAN and the L3 offset.
func refEth(d []byte, filter bool) (out int, m pktMeta) {
	if len(d) < 14 {
		return outShort, m
	}
	if d[6]&1 == 1 || [6]byte(d[6:12]) == [6]byte{} {
		return outBadSrc, m
	}
	if filter && d[0]&1 == 0 && [6]byte(d[0:6]) != fuzzMAC {
		return outNotForUs, m
	}
	off, tags := 12, 0
	t := binary.BigEndian.Uint16(d[12:])
	for (t == 0x8100 || t == 0x88a8) && tags < 2 {
		if len(d) < off+6 {
			return outShort, m
		}
		m.vlan = binary.BigEndian.Uint16(d[off+2:]) & 0x0fff
		off += 4
		tags++
		t = binary.BigEndian.Uint16(d[off:])
	}
	if t == 0x8100 || t == 0x88a8 {
		return outShort, m
	}
	m.etherType, m.l3, m.n = t, uint16(off+2), len(d)
	switch t {
	case 0x0800:
		return outIP, m
	case 0xAC01:
		return outV, m
	}
	return outRest, m
}

// FuzzEthFrames sends two arbitrary frames, interleaved k times in one
// vector (mixed verdicts split it), through
//
//	eth -> rest (continue), eth:ip -> ip, eth:v -> tee -> v, tee:clone -> cl
//
// and checks every frame against refEth: the right drop reason or output,
// the parsed metadata, the tee's clone, and that every UMEM frame is back
// where it belongs (none held, none in flight). Frames longer than a UMEM
// frame never reach the engine (the kernel drops them); runts, truncated
// and doubled VLAN tags, multicast sources and garbage do.
//
// Seeds: testdata/fuzz/FuzzEthFrames and the cases below.
func FuzzEthFrames(f *testing.F) {
	ip := []byte{0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00, 0x45, 0, 0, 20}
	f.Add(byte(1), ip, []byte{})
	f.Add(byte(3), ip, []byte{0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x81, 0x00, 0x00, 0x05, 0xAC, 0x01})
	f.Add(byte(0x11), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x01, 0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2, 0x08, 0x00},
		[]byte{0x02, 0, 0, 0, 0, 0x09, 0x02, 0, 0, 0, 0, 0x01, 0x81, 0x00, 0x00})
	f.Add(byte(2), []byte{0x02, 0, 0, 0, 0, 0x02, 0x03, 0, 0, 0, 0, 0x01, 0x08, 0x00}, []byte{0x02, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0x86, 0xdd})
	f.Add(byte(5), make([]byte, 3000), []byte{0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x81, 0x00, 0, 1, 0x81, 0x00, 0, 2, 0x81, 0x00, 0, 3, 0x08, 0x00})
	// One rig per filter mode, reused across inputs (building an engine
	// per input made this target 30 times slower than the others); the
	// checks use counter deltas.
	var rigs [2]*ethRig
	defer func() {
		for _, r := range rigs {
			if r != nil {
				r.e.Close()
			}
		}
	}()
	f.Fuzz(func(t *testing.T, cfg byte, a, b []byte) {
		filter := cfg&1 == 0
		k := int(cfg>>1)%32 + 1
		if rigs[cfg&1] == nil {
			rigs[cfg&1] = newEthRig(t, filter)
		}
		r := rigs[cfg&1]
		q, e, w := r.q, r.e, r.w
		for _, name := range []string{"rest", "ip", "v"} { // clean after a failed input
			inst, _ := e.Instance(name)
			inst.(*meta).seen = inst.(*meta).seen[:0]
		}
		before := r.snap()
		limit := int(q.UMEM().RXCapacity())
		var want [6]uint64
		var wantMeta [6][]pktMeta
		delivered := 0
		for range k {
			for _, fr := range [][]byte{a, b} {
				n := q.Deliver(fr, 1)
				if len(fr) > limit {
					if n != 0 {
						t.Fatalf("a %d-byte frame over the %d-byte capacity was delivered", len(fr), limit)
					}
					continue
				}
				if n != 1 {
					t.Fatalf("deliver: ring full after %d frames", delivered)
				}
				delivered++
				out, m := refEth(fr, filter)
				want[out]++
				if out >= outIP {
					wantMeta[out] = append(wantMeta[out], m)
				}
			}
		}
		for w.RunOnce() > 0 {
		}
		w.RunOnce()
		after := r.snap()
		for out, reason := range map[int]string{outShort: "short", outBadSrc: "bad-src", outNotForUs: "not-for-us"} {
			if d := after.drops[reason] - before.drops[reason]; d != want[out] {
				t.Fatalf("eth dropped %d as %s, reference says %d", d, reason, want[out])
			}
		}
		for out, name := range map[int]string{outIP: "ip", outV: "v", outRest: "rest"} {
			inst, _ := e.Instance(name)
			got := inst.(*meta).seen
			inst.(*meta).seen = got[:0]
			if len(got) != len(wantMeta[out]) {
				t.Fatalf("%s saw %d frames, reference says %d", name, len(got), len(wantMeta[out]))
			}
			for i := range got {
				if got[i] != wantMeta[out][i] {
					t.Fatalf("%s frame %d parsed as %+v, reference says %+v", name, i, got[i], wantMeta[out][i])
				}
			}
		}
		clones, failed, cl := after.clones-before.clones, after.failed-before.failed, after.cl-before.cl
		if cl != clones || clones+failed != want[outV] {
			t.Fatalf("tee: %d clones (%d failed), clone counter %d, for %d frames", clones, failed, cl, want[outV])
		}
		fc := w.Stats().Frames
		if rx := after.rx - before.rx; rx != uint64(delivered) || fc.Held != 0 || fc.InTX != 0 || fc.Free+fc.Spare+fc.Kernel != fc.Total {
			t.Fatalf("received %d of %d; frames %+v", rx, delivered, fc)
		}
		if u := after.unbound - before.unbound; u != want[outIP]+want[outRest]+clones+want[outV] {
			t.Fatalf("unbound drops %d: every frame that reached a top block ends there (%v)", u, want)
		}
	})
}

// ethRig is FuzzEthFrames' engine: one memory-backed queue, one worker
// driven by the fuzzing goroutine.
type ethRig struct {
	q *xsk.MemQueue
	e *engine.Engine
	w *engine.Worker
}

func newEthRig(t *testing.T, filter bool) *ethRig {
	q, err := xsk.NewMemQueue(xsk.UMEMConfig{FrameSize: 2048, FrameCount: 256, FillSize: 256, CompletionSize: 256}, 128, 128)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.Config{Workers: []engine.WorkerConfig{{Queue: q, UMEM: q.UMEM(), Reserve: 64}}})
	if err != nil {
		t.Fatal(err)
	}
	promisc := "true"
	if filter {
		promisc = "false"
	}
	if err := e.Exec("add eth eth mac=02:00:00:00:00:02 promisc="+promisc+" type.ip=0x0800 type.v=0xAC01",
		"add rest test-fuzz-meta", "add ip test-fuzz-meta", "add t tee", "add v test-fuzz-meta", "add cl counter",
		"bind eth rest", "bind eth:ip ip", "bind eth:v t", "bind t v", "bind t:clone cl", "hook eth"); err != nil {
		t.Fatal(err)
	}
	r := &ethRig{q: q, e: e, w: e.Worker(0)}
	r.w.RunOnce() // fill ring
	return r
}

// ethSnap is the rig's counters at one moment.
type ethSnap struct {
	drops                  map[string]uint64
	clones, failed, cl, rx uint64
	unbound                uint64
}

func (r *ethRig) snap() ethSnap {
	es, _ := r.e.BlockStats("eth")
	tee, _ := r.e.Instance("t")
	cl, _ := r.e.Instance("cl")
	var s ethSnap
	s.drops = es.Drops
	s.clones, s.failed = tee.(*blocks.Tee).Counts()
	s.cl, _ = cl.(*blocks.Counter).Counts()
	st := r.w.Stats()
	s.rx, s.unbound = st.RxPackets, st.Drops["unbound"]
	return s
}
