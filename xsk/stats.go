package xsk

// Stats are a queue's counters: the kernel's (XDP_STATISTICS, zero for a
// MemQueue except RxDropped) and LANA's own.
type Stats struct {
	// RxDropped counts packets the kernel dropped for other reasons (for
	// example a packet too large for a frame).
	RxDropped uint64
	// RxInvalidDescs counts invalid descriptors on the fill ring.
	RxInvalidDescs uint64
	// TxInvalidDescs counts invalid descriptors on the TX ring.
	TxInvalidDescs uint64
	// RxRingFull counts packets dropped because the RX ring was full.
	RxRingFull uint64
	// RxFillRingEmptyDescs counts times the kernel found the fill ring empty.
	RxFillRingEmptyDescs uint64
	// TxRingEmptyDescs counts times the kernel found the TX ring empty.
	TxRingEmptyDescs uint64

	// RxPackets counts descriptors taken by Receive.
	RxPackets uint64
	// TxPackets counts descriptors queued by Transmit.
	TxPackets uint64
	// Filled counts frames handed over by Refill.
	Filled uint64
	// Completed counts frame addresses taken by Complete.
	Completed uint64
	// Kicks counts sendto calls made to start transmission.
	Kicks uint64
	// KickErrors counts kicks that failed with something other than a
	// transient EAGAIN, EBUSY or ENOBUFS.
	KickErrors uint64
	// Polls counts Poll calls.
	Polls uint64
	// FillWakeups counts Polls made while the fill ring asked for a wakeup.
	FillWakeups uint64
	// Woken counts Polls that Wake ended (or that found a Wake pending).
	Woken uint64
}

// counters is LANA's own tally for one queue. The queue is single-owner, so
// these are plain fields written only by the owning goroutine, without atomics
// on the data path; Stats copies them, so call it from the owner too.
type counters struct {
	rxPackets   uint64
	txPackets   uint64
	filled      uint64
	completed   uint64
	kicks       uint64
	kickErrors  uint64
	polls       uint64
	fillWakeups uint64
	woken       uint64
}

func (c *counters) stats() Stats {
	return Stats{
		RxPackets:   c.rxPackets,
		TxPackets:   c.txPackets,
		Filled:      c.filled,
		Completed:   c.completed,
		Kicks:       c.kicks,
		KickErrors:  c.kickErrors,
		Polls:       c.polls,
		FillWakeups: c.fillWakeups,
		Woken:       c.woken,
	}
}
