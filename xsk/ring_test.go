package xsk

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// plainMem returns zeroed memory for a ring whose shared producer and
// consumer start at start, as a kernel that has run for a while would leave
// them.
func plainMem(t *testing.T, size uint32, descSize int, start uint32) []byte {
	t.Helper()
	mem := make([]byte, RingBytes(PlainRingOffsets, size, descSize))
	binary.NativeEndian.PutUint32(mem[PlainRingOffsets.Producer:], start)
	binary.NativeEndian.PutUint32(mem[PlainRingOffsets.Consumer:], start)
	return mem
}

func sharedIndex(mem []byte, off uint64) uint32 { return binary.NativeEndian.Uint32(mem[off:]) }

// fillPair returns a fill ring and the kernel's view of it (a consumer of
// addresses over the same memory).
func fillPair(t *testing.T, size, start uint32) (*FillRing, *CompletionRing, []byte) {
	t.Helper()
	mem := plainMem(t, size, 8, start)
	f, err := NewFillRing(mem, PlainRingOffsets, size)
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewCompletionRing(mem, PlainRingOffsets, size)
	if err != nil {
		t.Fatal(err)
	}
	return f, k, mem
}

func TestRingWrapAroundUint32(t *testing.T) {
	const size = 8
	// Start 5 short of 2^32 so the free-running indices wrap to zero early.
	start := uint32(1<<32 - 5)
	f, k, mem := fillPair(t, size, start)
	var next, want uint64
	wrapped := false
	batches := []uint32{3, 8, 1, 5, 7, 2, 8, 4}
	for round := 0; round < 1000; round++ {
		n := batches[round%len(batches)]
		got, idx := f.Reserve(n)
		if got != n {
			t.Fatalf("round %d: Reserve(%d) on an empty ring got %d", round, n, got)
		}
		for i := range got {
			f.Set(idx+i, next)
			next++
		}
		f.Submit(got)
		if p := sharedIndex(mem, PlainRingOffsets.Producer); p < start && p != 0 {
			wrapped = true
		}
		// The kernel takes them in two bites to exercise partial peeks.
		for taken := uint32(0); taken < got; {
			m, kidx := k.Peek((got + 1) / 2)
			if m == 0 {
				t.Fatalf("round %d: kernel saw nothing with %d submitted", round, got-taken)
			}
			for i := range m {
				if a := k.Get(kidx + i); a != want {
					t.Fatalf("round %d: got address %d, want %d", round, a, want)
				}
				want++
			}
			k.Release(m)
			taken += m
		}
	}
	if !wrapped {
		t.Fatalf("producer index never wrapped past 2^32 (now %#x)", sharedIndex(mem, PlainRingOffsets.Producer))
	}
	if p, c := sharedIndex(mem, PlainRingOffsets.Producer), sharedIndex(mem, PlainRingOffsets.Consumer); p != c || p != start+uint32(next) {
		t.Fatalf("producer %#x consumer %#x, want both %#x", p, c, start+uint32(next))
	}
}

func TestRingFullAndEmpty(t *testing.T) {
	const size = 4
	f, k, _ := fillPair(t, size, 0)
	if n, _ := k.Peek(size); n != 0 {
		t.Fatalf("Peek on an empty ring got %d", n)
	}
	got, idx := f.Reserve(size + 3)
	if got != size || idx != 0 {
		t.Fatalf("Reserve(%d) on an empty ring of %d: got %d at %d", size+3, size, got, idx)
	}
	if n, _ := f.Reserve(1); n != 0 {
		t.Fatalf("Reserve on a full ring got %d", n)
	}
	for i := range got {
		f.Set(idx+i, uint64(i)*2048)
	}
	// Nothing is visible before Submit.
	if n, _ := k.Peek(1); n != 0 {
		t.Fatalf("kernel peeked %d unsubmitted entries", n)
	}
	f.Submit(got)
	if n, _ := f.Reserve(1); n != 0 {
		t.Fatalf("Reserve on a full, unconsumed ring got %d", n)
	}
	n, kidx := k.Peek(size)
	if n != size {
		t.Fatalf("kernel Peek got %d, want %d", n, size)
	}
	// Peeked but unreleased slots are still not free.
	if got, _ := f.Reserve(1); got != 0 {
		t.Fatalf("Reserve got %d slots the kernel has not released", got)
	}
	if a := k.Get(kidx + 3); a != 3*2048 {
		t.Fatalf("slot 3 holds %d", a)
	}
	k.Release(1)
	if got, _ := f.Reserve(2); got != 1 {
		t.Fatalf("after one release Reserve(2) got %d, want 1", got)
	}
	f.Cancel(1)
	k.Release(3)
	if got, _ := f.Reserve(size); got != size {
		t.Fatalf("after draining Reserve(%d) got %d", size, got)
	}
}

// TestRingCachedIndices checks that each side reads the other side's shared
// index only when its cached view cannot satisfy a request. The test poisons
// the shared index; a ring that read it would go wrong.
func TestRingCachedIndices(t *testing.T) {
	const size = 8
	f, k, mem := fillPair(t, size, 100)

	// Producer side: the first Reserve reads consumer (100) once; the
	// cached bound is 108.
	got, _ := f.Reserve(3)
	f.Submit(got)
	// Poison the consumer index: a ring reading it now would see 8 free
	// slots beyond what exists.
	binary.NativeEndian.PutUint32(mem[PlainRingOffsets.Consumer:], 100+size)
	if got, _ := f.Reserve(5); got != 5 {
		t.Fatalf("Reserve(5) with 5 cached free slots got %d", got)
	}
	if f.r.limit != 100+size {
		t.Fatalf("cached consumer bound moved to %d without need", f.r.limit)
	}
	// The cache is exhausted: the next Reserve reads the (now larger)
	// shared index.
	if got, _ := f.Reserve(4); got != 4 {
		t.Fatalf("Reserve(4) after a refresh got %d", got)
	}
	if f.r.limit != 100+2*size {
		t.Fatalf("cached consumer bound %d after refresh, want %d", f.r.limit, 100+2*size)
	}
	binary.NativeEndian.PutUint32(mem[PlainRingOffsets.Consumer:], 100)
	f.Submit(5)

	// Consumer side: the first Peek reads producer (108) once.
	if n, _ := k.Peek(2); n != 2 {
		t.Fatalf("Peek(2) got %d", n)
	}
	// Poison: a producer index below the consumer's cursor.
	binary.NativeEndian.PutUint32(mem[PlainRingOffsets.Producer:], 100)
	if n, _ := k.Peek(6); n != 6 {
		t.Fatalf("Peek(6) with 6 cached entries got %d", n)
	}
	if k.r.limit != 108 {
		t.Fatalf("cached producer %d moved without need", k.r.limit)
	}
	binary.NativeEndian.PutUint32(mem[PlainRingOffsets.Producer:], 108)
	if n, _ := k.Peek(1); n != 0 {
		t.Fatalf("Peek on a drained ring got %d", n)
	}
}

func TestRingDescriptors(t *testing.T) {
	const size = 16
	mem := plainMem(t, size, 16, 1<<32-7)
	tx, err := NewTXRing(mem, PlainRingOffsets, size)
	if err != nil {
		t.Fatal(err)
	}
	kernel, err := NewRXRing(mem, PlainRingOffsets, size)
	if err != nil {
		t.Fatal(err)
	}
	in := make([]Desc, 11)
	out := make([]Desc, 16)
	var seq uint64
	for round := 0; round < 50; round++ {
		for i := range in {
			in[i] = Desc{Addr: seq * 4096, Len: uint32(seq % 1500), Options: uint32(round)}
			seq++
		}
		if n := tx.Produce(in); n != len(in) {
			t.Fatalf("round %d: Produce got %d", round, n)
		}
		if kernel.Ready() != uint32(len(in)) {
			t.Fatalf("round %d: Ready %d, want %d", round, kernel.Ready(), len(in))
		}
		if n := kernel.Consume(out); n != len(in) {
			t.Fatalf("round %d: Consume got %d", round, n)
		}
		for i := range in {
			if out[i] != in[i] {
				t.Fatalf("round %d slot %d: got %+v, want %+v", round, i, out[i], in[i])
			}
		}
	}
	// Flags: the kernel's need-wakeup bit is seen by the producer.
	if tx.NeedWakeup() {
		t.Fatal("NeedWakeup with a zero flags word")
	}
	binary.NativeEndian.PutUint32(mem[PlainRingOffsets.Flags:], ringNeedWakeup)
	if !tx.NeedWakeup() {
		t.Fatal("NeedWakeup false with XDP_RING_NEED_WAKEUP set")
	}
}

func TestRingMisuse(t *testing.T) {
	f, k, _ := fillPair(t, 4, 0)
	mustPanic(t, "Submit beyond Reserve", func() { f.Submit(1) })
	got, _ := f.Reserve(2)
	f.Submit(got)
	mustPanic(t, "Release beyond Peek", func() { k.Release(1) })
	mustPanic(t, "Cancel beyond Reserve", func() { f.Cancel(1) })
}

func mustPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", what)
		}
	}()
	fn()
}

func TestRingBadParameters(t *testing.T) {
	mem := make([]byte, 1<<16)
	for _, tc := range []struct {
		name string
		make func() error
		want string
	}{
		{"size 1000", func() error { _, err := NewFillRing(mem, PlainRingOffsets, 1000); return err }, "fill ring size 1000: must be a power of two"},
		{"size 0", func() error { _, err := NewRXRing(mem, PlainRingOffsets, 0); return err }, "rx ring size 0: must be a power of two"},
		{"too big", func() error { _, err := NewTXRing(mem, PlainRingOffsets, 1<<21); return err }, "must be at most"},
		{"short memory", func() error { _, err := NewRXRing(mem[:1000], PlainRingOffsets, 64); return err }, "need 1216"},
		{"misaligned", func() error {
			off := PlainRingOffsets
			off.Desc = 196
			_, err := NewCompletionRing(mem, off, 64)
			return err
		}, "offset 196 is not 8-byte aligned"},
	} {
		err := tc.make()
		if err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an ErrInvalidConfig saying %q", tc.name, err, tc.want)
		}
	}
}
