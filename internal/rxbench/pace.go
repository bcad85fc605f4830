package rxbench

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"github.com/cilium/ebpf"
)

// PaceCounter publishes a userspace receiver's frame count to the kernel, so
// that the live-frames generator paces on what the receiver has actually
// taken from its ring rather than on what the kernel handed over. It is a
// one-slot BPF_F_MMAPABLE array: Add is a store into shared memory, no
// system call.
//
// Add and Store are for the receiving goroutine only; Load and Map for any
// goroutine.
type PaceCounter struct {
	m     *ebpf.Map
	mem   *ebpf.Memory
	count atomic.Uint64
	buf   [8]byte // Store's scratch, owned by the receiving goroutine
}

// NewPaceCounter creates the map and maps it.
func NewPaceCounter() (*PaceCounter, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "lana_pace", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1,
		Flags: 1 << 10, // BPF_F_MMAPABLE
	})
	if err != nil {
		return nil, fmt.Errorf("create pace map: %w", err)
	}
	mem, err := m.Memory()
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("map pace map: %w", err)
	}
	return &PaceCounter{m: m, mem: mem}, nil
}

// Add counts n more frames taken.
func (c *PaceCounter) Add(n uint64) { c.Store(c.count.Load() + n) }

// Store sets the count to total, the receiver's running total of frames
// taken (the shape of engine.WorkerConfig.OnVector).
func (c *PaceCounter) Store(total uint64) {
	c.count.Store(total)
	binary.LittleEndian.PutUint64(c.buf[:], total)
	c.mem.WriteAt(c.buf[:], 0) // an aligned 8-byte copy: never torn on amd64/arm64
}

// Load returns the count.
func (c *PaceCounter) Load() uint64 { return c.count.Load() }

// Map is the array livegen.Config.PaceMap takes.
func (c *PaceCounter) Map() *ebpf.Map { return c.m }

// Close releases the map.
func (c *PaceCounter) Close() error { return c.m.Close() }
