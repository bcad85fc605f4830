package rxbench

import "github.com/lana-net/lana/internal/pace"

// PaceCounter publishes a userspace receiver's frame count to the kernel, so
// that the live-frames generator paces on what the receiver has actually
// taken from its ring; it is pace.Counter, which lanad shares.
type PaceCounter = pace.Counter

// NewPaceCounter creates a pace counter (pace.New).
func NewPaceCounter() (*PaceCounter, error) { return pace.New() }
