package livegen_test

import (
	"context"
	"testing"
	"time"

	"github.com/lana-net/lana/internal/livegen"
)

// BenchmarkAFXDPGen measures the afxdp generator on one core (CPU 0) against
// XDP_DROP on the peer (NAPI on CPU 1), paced on the peer's count. One
// iteration is a 200 ms run; Mpps is what the peer counted.
func BenchmarkAFXDPGen(b *testing.B) {
	p, drop := benchPair(b)
	b.ReportAllocs()
	const slice = 200 * time.Millisecond
	var received, sent uint64
	var busy time.Duration
	for b.Loop() {
		g, err := livegen.NewAFXDP(livegen.Config{
			Ifindex: p.IndexA, Do: doA(p), CPU: 0, Frame: spec(p, 4),
			Pace: drop.Consumed, Duration: slice,
		})
		if err != nil {
			b.Fatal(err)
		}
		before := drop.Consumed()
		res, err := g.Run(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		received += drop.Consumed() - before
		sent += res.Sent
		busy += res.Elapsed
	}
	b.ReportMetric(float64(received)/busy.Seconds()/1e6, "Mpps")
	b.ReportMetric(float64(sent)/busy.Seconds()/1e6, "sent-Mpps")
}
