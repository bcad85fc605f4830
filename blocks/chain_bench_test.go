package blocks_test

import (
	"testing"

	_ "github.com/lana-net/lana/blocks"
	"github.com/lana-net/lana/internal/enginetest"
	"github.com/lana-net/lana/internal/frames"
)

// BenchmarkPaperChain runs the paper's chain, eth -> dummy -> dummy, in one
// worker over a memory queue, on 64-byte UDP frames (60 bytes without FCS)
// in vectors of 64: what lanad's worker does per frame in the lab's lanad-3
// row, without the kernel. dummy-3 is three dummies, which never read a
// frame; the difference is the eth block's parse and its first read of each
// frame. The simulated kernel's copy into the UMEM is included in both.
//
// Metric Mpps: million frames through the chain per second on one core.
func BenchmarkPaperChain(b *testing.B) {
	const vector = 64
	fs, err := frames.Build(frames.Spec{}, 1)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		lines []string
	}{
		{"eth-dummy-dummy", []string{"add e eth", "add d1 dummy", "add d2 dummy", "bind e d1", "bind d1 d2", "hook e"}},
		{"dummy-3", []string{"add d0 dummy", "add d1 dummy", "add d2 dummy", "bind d0 d1", "bind d1 d2", "hook d0"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := enginetest.New(b, enginetest.Options{Frames: 1024}, c.lines...)
			b.ReportAllocs()
			for b.Loop() {
				if r.Q.Deliver(fs[0], vector) != vector {
					b.Fatal("fill ring empty: frames leak")
				}
				if n := r.W.RunOnce(); n != vector {
					b.Fatalf("worker took %d frames, want %d", n, vector)
				}
			}
			b.ReportMetric(float64(b.N)*vector/b.Elapsed().Seconds()/1e6, "Mpps")
			if st := r.W.Stats(); st.RxPackets != uint64(b.N)*vector+0 {
				b.Fatalf("worker received %d frames, want %d", st.RxPackets, uint64(b.N)*vector)
			}
		})
	}
}
