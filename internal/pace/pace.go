package pace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/cilium/ebpf"
)

// mmapable is BPF_F_MMAPABLE: the array's values can be mapped into memory.
const mmapable = 1 << 10

// Counter is a receiver's running total of frames taken, shared with the
// kernel through a one-slot mmapable array.
//
// Add and Store are for the receiving goroutine only; Load and Map for any
// goroutine.
type Counter struct {
	m      *ebpf.Map
	mem    *ebpf.Memory
	count  atomic.Uint64 // the last total stored, for Load (New's counters)
	buf    [8]byte       // Store's scratch, owned by the receiving goroutine
	reader bool          // opened with Open: Load reads the map's memory
}

// New creates the map and maps it.
func New() (*Counter, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "lana_pace", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1,
		Flags: mmapable,
	})
	if err != nil {
		return nil, fmt.Errorf("create pace map: %w", err)
	}
	mem, err := m.Memory()
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("map pace map: %w", err)
	}
	return &Counter{m: m, mem: mem}, nil
}

// Open opens a counter another process pinned at path, for reading: Load
// reads the map's memory, Map hands it to the generator. Add and Store must
// not be called on it.
func Open(path string) (*Counter, error) {
	m, err := ebpf.LoadPinnedMap(path, nil)
	if err != nil {
		return nil, fmt.Errorf("open pace map %s: %w", path, err)
	}
	info, err := m.Info()
	if err == nil && (info.Type != ebpf.Array || info.ValueSize != 8 || info.Flags&mmapable == 0) {
		err = fmt.Errorf("%v map with %d-byte values, flags %#x: want an mmapable array of u64", info.Type, info.ValueSize, info.Flags)
	}
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("open pace map %s: %w", path, err)
	}
	mem, err := m.Memory()
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("map pace map %s: %w", path, err)
	}
	return &Counter{m: m, mem: mem, reader: true}, nil
}

// Add counts n more frames taken.
func (c *Counter) Add(n uint64) { c.Store(c.count.Load() + n) }

// Store sets the count to total, the receiver's running total of frames
// taken (the shape of engine.WorkerConfig.OnVector).
func (c *Counter) Store(total uint64) {
	c.count.Store(total)
	binary.LittleEndian.PutUint64(c.buf[:], total)
	c.mem.WriteAt(c.buf[:], 0) // an aligned 8-byte copy: never torn on amd64/arm64
}

// Load returns the count.
func (c *Counter) Load() uint64 {
	if !c.reader {
		return c.count.Load()
	}
	var b [8]byte
	c.mem.ReadAt(b[:], 0)
	return binary.LittleEndian.Uint64(b[:])
}

// Map is the array livegen.Config.PaceMap takes.
func (c *Counter) Map() *ebpf.Map { return c.m }

// Pin pins the map at path, which must be on a bpffs mount; an existing pin
// there is an error (another lanad, or a leftover: remove it by hand).
func (c *Counter) Pin(path string) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("pin pace map at %s: %w", path, os.ErrExist)
	}
	if err := c.m.Pin(path); err != nil {
		return fmt.Errorf("pin pace map at %s: %w", path, err)
	}
	return nil
}

// Unpin removes the map's pin, if any.
func (c *Counter) Unpin() error {
	if err := c.m.Unpin(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("unpin pace map: %w", err)
	}
	return nil
}

// Close releases the map (not its pin: see Unpin).
func (c *Counter) Close() error { return c.m.Close() }
