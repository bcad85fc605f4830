package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/lana-net/lana/internal/config"
	"github.com/lana-net/lana/internal/pace"
)

// benchPace is the benchmarking aid of config.Bench.PaceDir: each worker's
// running total of frames taken, published once per vector into a pinned
// pace.Counter (PaceDir/pace<worker>) for a traffic generator to pace on.
// It exists only when the file asks for it; its hooks run on the workers'
// goroutines, everything else on the runtime's control path.
type benchPace struct {
	dir     string
	created bool // dir was made here: close removes it
	slots   []*paceSlot
}

// paceSlot is one worker's counter and thread id.
type paceSlot struct {
	c   *pace.Counter
	tid atomic.Int64 // the worker's OS thread, stored by its first vector
}

// newBenchPace prepares f's pace directory, or returns nil when f has none.
func newBenchPace(f *config.File) (*benchPace, error) {
	if f.Bench == nil || f.Bench.PaceDir == "" {
		return nil, nil
	}
	created, err := pace.PrepareDir(f.Bench.PaceDir)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return &benchPace{dir: f.Bench.PaceDir, created: created}, nil
}

// path is worker i's pin.
func (b *benchPace) path(i int) string { return filepath.Join(b.dir, "pace"+strconv.Itoa(i)) }

// hook creates and pins worker i's counter (workers are added in order)
// and returns the worker's OnVector.
func (b *benchPace) hook(i int) (func(uint64), error) {
	if i != len(b.slots) {
		return nil, fmt.Errorf("bench: pace counter %d after %d", i, len(b.slots))
	}
	c, err := pace.New()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := c.Pin(b.path(i)); err != nil {
		c.Close()
		return nil, fmt.Errorf("bench: %w", err)
	}
	s := &paceSlot{c: c}
	b.slots = append(b.slots, s)
	return func(total uint64) {
		if s.tid.Load() == 0 { // once: the worker's thread is locked for its whole Run
			s.tid.Store(int64(unix.Gettid()))
		}
		s.c.Store(total)
	}, nil
}

// thread is worker i's thread id, 0 until it received a vector.
func (b *benchPace) thread(i int) int {
	if b == nil || i >= len(b.slots) {
		return 0
	}
	return int(b.slots[i].tid.Load())
}

// close removes the pins and the directory it made; after the workers
// stopped.
func (b *benchPace) close() error {
	var errs []error
	for _, s := range b.slots {
		errs = append(errs, s.c.Unpin(), s.c.Close())
	}
	b.slots = nil
	if b.created {
		if err := os.Remove(b.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("bench: remove pace directory: %w", err))
		}
		b.created = false
	}
	return errors.Join(errs...)
}
