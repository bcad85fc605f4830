package blocks_test

import (
	"testing"

	"github.com/lana-net/lana/blocks"
	"github.com/lana-net/lana/engine"
)

// Blocks with counters of their own report them to the control plane.
var (
	_ engine.Reporter = (*blocks.Counter)(nil)
	_ engine.Reporter = (*blocks.Tee)(nil)
	_ engine.Reporter = (*blocks.VLink)(nil)
)

func TestCountersReport(t *testing.T) {
	r := newRig(t, "add e eth", "add c counter", "bind e c", "hook e")
	r.Push(t, frame(ourMAC, peerMAC, 0x0800), 7)
	got := r.Instance(t, "c").(engine.Reporter).Counters()
	if got["packets"] != 7 || got["bytes"] != 7*60 {
		t.Fatalf("counter reports %v, want 7 packets, 420 bytes", got)
	}
}
