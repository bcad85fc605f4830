package livegen

import (
	"errors"
	"testing"
)

func TestPacedBatch(t *testing.T) {
	for _, c := range []struct {
		outstanding uint64
		want        uint32
	}{{1, 1}, {2, 1}, {3, 1}, {4, 2}, {100, 32}, {128, 64}, {255, 64}, {256, 128}, {1 << 20, 256}} {
		if got := pacedBatch(c.outstanding); got != c.want {
			t.Errorf("pacedBatch(%d) = %d, want %d", c.outstanding, got, c.want)
		}
	}
}

func TestPacedBatchSizeRefused(t *testing.T) {
	for _, c := range []struct {
		name  string
		batch uint32
	}{{"not a power of two", 48}, {"above outstanding", 256}} {
		if err := validatePacedBatch(c.batch, 128); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: batch %d: err %v, want ErrConfig", c.name, c.batch, err)
		}
	}
	if err := validatePacedBatch(64, 128); err != nil {
		t.Errorf("batch 64 of 128: %v", err)
	}
}
