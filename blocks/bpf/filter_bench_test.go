package bpf_test

import (
	"testing"

	"golang.org/x/net/bpf"

	"github.com/lana-net/lana/internal/cbpf"
)

// BenchmarkFilter measures `udp dst port 9` on 64-byte frames (60 bytes
// without FCS) that all match, so every run walks the whole IPv4 path:
//
//   - compiled-expr: cbpf closures for CompileExpr's program;
//   - compiled-tcpdump: cbpf closures for tcpdump -dd's program;
//   - xnet-vm-tcpdump: golang.org/x/net/bpf's interpreter, same program;
//   - engine: the bpf block in a one-worker engine over a memory queue
//     (includes the simulated kernel copying each frame into the UMEM and
//     the engine's receive/recycle work);
//   - engine-nofilter: the same with no program, the engine's own cost.
//
// Metric Mpps: million frames filtered per second on one core.
func BenchmarkFilter(b *testing.B) {
	const batch = 64
	frame := udpFrame(b, 9)
	pkts := make([][]byte, batch)
	for i := range pkts {
		pkts[i] = frame
	}
	mpps := func(b *testing.B, perLoop int) {
		b.ReportMetric(float64(b.N)*float64(perLoop)/b.Elapsed().Seconds()/1e6, "Mpps")
	}
	load := func(b *testing.B, raw []bpf.RawInstruction, err error) *cbpf.Program {
		if err != nil {
			b.Fatal(err)
		}
		p, err := cbpf.Load(raw)
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	run := func(b *testing.B, p *cbpf.Program) {
		var m cbpf.Machine
		b.ReportAllocs()
		for b.Loop() {
			for _, f := range pkts {
				if p.Run(&m, f) == 0 {
					b.Fatal("frame rejected")
				}
			}
		}
		mpps(b, batch)
	}
	b.Run("compiled-expr", func(b *testing.B) {
		raw, err := cbpf.CompileExpr("udp dst port 9")
		run(b, load(b, raw, err))
	})
	b.Run("compiled-tcpdump", func(b *testing.B) {
		raw, err := cbpf.ParseText(udpDstPort9)
		run(b, load(b, raw, err))
	})
	b.Run("xnet-vm-tcpdump", func(b *testing.B) {
		raw, err := cbpf.ParseText(udpDstPort9)
		if err != nil {
			b.Fatal(err)
		}
		ins, _ := bpf.Disassemble(raw)
		vm, err := bpf.NewVM(ins)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			for _, f := range pkts {
				if n, _ := vm.Run(f); n == 0 {
					b.Fatal("frame rejected")
				}
			}
		}
		mpps(b, batch)
	})
	engineRun := func(b *testing.B, opts ...string) {
		r := newRig(b, opts...)
		b.ReportAllocs()
		for b.Loop() {
			if r.Q.Deliver(frame, batch) != batch {
				b.Fatal("fill ring short")
			}
			for r.W.RunOnce() > 0 {
			}
		}
		mpps(b, batch)
		b.StopTimer()
		if behind, _, _, _ := r.state(b); behind != uint64(b.N)*batch {
			b.Fatalf("%d frames passed, want %d", behind, uint64(b.N)*batch)
		}
	}
	b.Run("engine", func(b *testing.B) { engineRun(b, "filter=udp dst port 9") })
	b.Run("engine-nofilter", func(b *testing.B) { engineRun(b) })
}
