package xsk

// userRings is the user's side of a queue: its four rings and LANA's tally,
// shared by Socket (rings in the kernel's mmaps) and MemQueue (rings in plain
// memory), whose exported methods wrap these (so that each type documents
// them in its own terms). The owning goroutine alone calls its methods.
type userRings struct {
	fill FillRing
	comp CompletionRing
	rx   RXRing
	tx   TXRing
	// counters are written by the owning goroutine only.
	counters counters
}

// receive takes up to len(descs) received descriptors, counts them and
// returns how many.
func (u *userRings) receive(descs []Desc) int {
	n := u.rx.Consume(descs)
	u.counters.rxPackets += uint64(n)
	return n
}

// refill puts addrs on the fill ring, counts them and returns how many
// fitted.
func (u *userRings) refill(addrs []uint64) int {
	n := u.fill.Produce(addrs)
	u.counters.filled += uint64(n)
	return n
}

// produceTX queues descs on the TX ring, counts them and returns how many
// fitted; Transmit adds what the queue needs beyond that (a kick).
func (u *userRings) produceTX(descs []Desc) int {
	n := u.tx.Produce(descs)
	u.counters.txPackets += uint64(n)
	return n
}

// consumeCompletions takes up to len(addrs) completed frame addresses,
// counts them and returns how many.
func (u *userRings) consumeCompletions(addrs []uint64) int {
	n := u.comp.Consume(addrs)
	u.counters.completed += uint64(n)
	return n
}

// backlog reports how many received descriptors wait on the RX ring.
func (u *userRings) backlog() int { return int(u.rx.Ready()) }
