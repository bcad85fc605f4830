package engine

// Packet is a view into one UMEM frame. Its data is Frame()[head:tail]; the
// bytes before head are headroom a block may grow into with Push.
//
// A Packet lives in a worker's preallocated vector and is only valid during
// the Process call that sees it: a block that wants to keep the frame
// returns VerdictConsumed and keeps Addr (see Worker.Release), never the
// *Packet or its slices.
type Packet struct {
	frame []byte // the whole frame; owned by the worker (or the consumer after VerdictConsumed)
	// Addr is the UMEM address of the frame's first byte (the frame base,
	// not the data start).
	Addr uint64
	head uint32
	tail uint32
	// Queue is the index of the NIC queue the frame arrived on (or will
	// leave by).
	Queue uint16
	// EtherType is the parsed ethertype (after any 802.1Q tag), set by eth.
	EtherType uint16
	// VLAN is the 802.1Q VLAN id, 0 when untagged; set by eth.
	VLAN uint16
	// Port is the vlink port (ethertype 0xAC00|port), set by vlink blocks.
	Port uint16
	// L3 is the offset of the network header from the data start, set by eth.
	L3 uint16
}

// Data returns the packet's bytes. The slice aliases the UMEM frame and is
// valid until the verdict is acted on.
func (p *Packet) Data() []byte { return p.frame[p.head:p.tail] }

// Len returns the data length.
func (p *Packet) Len() int { return int(p.tail - p.head) }

// Headroom returns how many bytes Push may add before the data.
func (p *Packet) Headroom() int { return int(p.head) }

// Tailroom returns how many bytes Extend may add after the data.
func (p *Packet) Tailroom() int { return len(p.frame) - int(p.tail) }

// Offset returns the data start relative to the frame base.
func (p *Packet) Offset() int { return int(p.head) }

// Push grows the data by n bytes at the front and returns the new data; it
// reports false (and changes nothing) when the headroom is smaller than n.
func (p *Packet) Push(n int) ([]byte, bool) {
	if n < 0 || n > int(p.head) {
		return nil, false
	}
	p.head -= uint32(n)
	return p.Data(), true
}

// Pull strips n bytes from the front; false when the packet is shorter.
func (p *Packet) Pull(n int) bool {
	if n < 0 || n > p.Len() {
		return false
	}
	p.head += uint32(n)
	return true
}

// Extend grows the data by n bytes at the end; false without enough tailroom.
func (p *Packet) Extend(n int) bool {
	if n < 0 || n > p.Tailroom() {
		return false
	}
	p.tail += uint32(n)
	return true
}

// Trim cuts the data to n bytes; false when n is negative or longer than the data.
func (p *Packet) Trim(n int) bool {
	if n < 0 || n > p.Len() {
		return false
	}
	p.tail = p.head + uint32(n)
	return true
}

// desc returns the TX descriptor for p.
func (p *Packet) desc() Desc { return Desc{Addr: p.Addr + uint64(p.head), Len: p.tail - p.head} }
