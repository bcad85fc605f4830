package engine

// Take hands the calling block a free frame of the worker, as if the block
// had consumed a packet: the block owns the frame (base address addr,
// frame its bytes) until it gives it back through Worker.Release or sends
// it down a block's egress path with Port.Send, from any goroutine. It
// reports false when the worker's free list is empty.
//
// Take exists for blocks that produce frames from outside the data path (a
// vlink's TAP device): Port.Send needs a frame the caller owns, and only
// the worker may take one from its free list, so such a block stocks a few
// frames per worker while it processes a vector. The frames count as Held
// in Worker.Stats until they come back. Call it only from Process.
func (v *Vector) Take() (addr uint64, frame []byte, ok bool) {
	w := v.w
	n := len(w.free)
	if n == 0 {
		return 0, nil, false
	}
	addr = w.free[n-1]
	w.free = w.free[:n-1]
	add(&w.ctr.consumed, 1)
	return addr, w.umem.Frame(addr, w.fsize), true
}
