package engine

// Direction says which way a vector travels through the stack.
type Direction uint8

const (
	// Ingress is the receive path: from the NIC up through bind A B (A -> B).
	Ingress Direction = iota
	// Egress is the transmit path: down from B to A.
	Egress
)

// String returns "ingress" or "egress".
func (d Direction) String() string {
	if d == Egress {
		return "egress"
	}
	return "ingress"
}

// Verdict is what a block decided for one packet. The zero value is
// VerdictContinue, so a block that forwards everything writes nothing.
type Verdict uint8

const (
	// VerdictContinue passes the packet to the next block in its direction.
	VerdictContinue Verdict = iota
	// VerdictDrop frees the frame; the block's reason counter goes up.
	VerdictDrop
	// VerdictConsumed hands the frame to the block, which now owns Addr and
	// must give it back through Worker.Release or Port.Send.
	VerdictConsumed
	// VerdictTurnAround sends the packet the other way: from the ingress of
	// block B to B's egress neighbour, or from B's egress to its ingress
	// neighbour.
	VerdictTurnAround
	// VerdictTransmit puts the frame on the queue's TX ring without a copy.
	VerdictTransmit
	// verdictOutput is the first named output; output k is verdictOutput+k.
	verdictOutput
)

// MaxOutputs bounds a block's named outputs.
const MaxOutputs = 255 - int(verdictOutput)

// MaxReasons bounds a block's drop reasons; reason 0 is the first reason the
// block declared.
const MaxReasons = 16

// DefaultVectorSize is the vector size when Config.VectorSize is zero.
const DefaultVectorSize = 64

// MaxVectorSize bounds Config.VectorSize.
const MaxVectorSize = 256

// Vector is a batch of packets handed to one block in one call. Pkts, the
// verdicts and the emit buffer are preallocated per worker; a block must not
// keep the Vector or any slice of it after Process returns.
type Vector struct {
	// Pkts are the packets of this call, in arrival order.
	Pkts []Packet
	// Dir is the direction of travel.
	Dir Direction
	// Worker is the index of the calling worker (0..Env.Workers-1); blocks
	// index their per-worker state with it.
	Worker int

	verdicts []Verdict // per packet; zeroed before each call
	reasons  []uint8   // per packet drop reason, valid when verdict is VerdictDrop
	emitted  []Packet  // extra packets (tee clones), owned by the worker
	emitOut  []uint8   // output index of each emitted packet
	w        *Worker
}

// Drop marks packet i dropped for the block's reason r (an index into
// Info.Reasons).
func (v *Vector) Drop(i int, r uint8) {
	v.verdicts[i] = VerdictDrop
	v.reasons[i] = r
}

// Consume marks packet i taken over by the block.
func (v *Vector) Consume(i int) { v.verdicts[i] = VerdictConsumed }

// TurnAround marks packet i for the opposite direction.
func (v *Vector) TurnAround(i int) { v.verdicts[i] = VerdictTurnAround }

// Transmit marks packet i for the TX ring of its queue.
func (v *Vector) Transmit(i int) { v.verdicts[i] = VerdictTransmit }

// Output sends packet i to the block's named output k (an index into
// Info.Outputs).
func (v *Vector) Output(i, k int) { v.verdicts[i] = verdictOutput + Verdict(k) }

// Set records verdict vd for packet i (VerdictDrop uses reason 0).
func (v *Vector) Set(i int, vd Verdict) {
	v.verdicts[i] = vd
	v.reasons[i] = 0
}

// Verdict returns the verdict recorded so far for packet i.
func (v *Vector) Verdict(i int) Verdict { return v.verdicts[i] }

// Clone copies packet i into a free frame of the worker and returns the copy
// with the same offset, length and metadata. It reports false when the
// worker has no free frame or the emit buffer is full: the caller counts a
// drop. The clone belongs to the worker until Emit or the end of Process.
func (v *Vector) Clone(i int) (Packet, bool) {
	if len(v.emitted) == cap(v.emitted) {
		return Packet{}, false
	}
	return v.w.clone(&v.Pkts[i])
}

// Emit queues p (a packet from Clone) for the block's named output k; the
// worker sends emitted packets on after the vector's own packets. It reports
// false when the emit buffer is full, in which case the worker frees p.
func (v *Vector) Emit(k int, p Packet) bool {
	if len(v.emitted) == cap(v.emitted) {
		v.w.freeFrame(p.Addr)
		return false
	}
	v.emitted = append(v.emitted, p)
	v.emitOut = append(v.emitOut, uint8(k))
	return true
}

// newVector allocates a vector of capacity n for worker w.
func newVector(n int, w *Worker) *Vector {
	return &Vector{
		Pkts:     make([]Packet, 0, n),
		verdicts: make([]Verdict, n),
		reasons:  make([]uint8, n),
		emitted:  make([]Packet, 0, n),
		emitOut:  make([]uint8, 0, n),
		w:        w,
	}
}
