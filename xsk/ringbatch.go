package xsk

import "math"

// clampLen turns a slice length into a ring request.
func clampLen(n int) uint32 {
	if n > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(n)
}

// produceBatch reserves room for as many of src as fit, copies them into the
// ring's slots (in at most two copies around the wrap) and submits them.
func produceBatch[T any](r *ring, slots []T, src []T) int {
	n, idx := r.reserve(clampLen(len(src)))
	if n == 0 {
		return 0
	}
	done := copy(slots[idx&r.mask:], src[:n])
	copy(slots, src[done:n])
	r.submit(n)
	return int(n)
}

// consumeBatch peeks up to len(dst) filled slots, copies them out (in at most
// two copies around the wrap) and releases them.
func consumeBatch[T any](r *ring, slots []T, dst []T) int {
	n, idx := r.peek(clampLen(len(dst)))
	if n == 0 {
		return 0
	}
	done := copy(dst[:n], slots[idx&r.mask:])
	copy(dst[done:n], slots)
	r.release(n)
	return int(n)
}
