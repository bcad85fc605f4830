package engine

import (
	"time"

	"github.com/lana-net/lana/xsk"
)

// Desc is an RX or TX ring entry (xsk.Desc): Addr is the UMEM offset of the
// first data byte (frame base plus headroom), Len the data length.
type Desc = xsk.Desc

// Queue is one NIC queue as a worker sees it: the four AF_XDP rings in
// batch form. *xsk.Socket and *xsk.MemQueue implement it. Every method is
// called only by the worker that owns the queue; none may allocate.
type Queue interface {
	// Receive takes up to len(descs) descriptors from the RX ring.
	Receive(descs []Desc) int
	// Refill gives up to len(addrs) frames to the fill ring and reports how
	// many it took; the rest stay with the caller.
	Refill(addrs []uint64) int
	// Transmit puts up to len(descs) frames on the TX ring and kicks the
	// kernel when needed; frames it did not take stay with the caller.
	Transmit(descs []Desc) int
	// Complete takes up to len(addrs) addresses from the completion ring.
	Complete(addrs []uint64) int
	// Poll sleeps until the RX ring has descriptors or timeout passes.
	Poll(timeout time.Duration) (bool, error)
}

// Wakeable is a Queue whose Poll another goroutine can end early;
// *xsk.Socket implements it. A worker over a Wakeable queue is woken from
// its sleep when it is handed work (Port.Send, Port.Free, Worker.Release),
// when Port.Alloc finds its spare ring empty, and on Engine.Stop; other
// queues (xsk.MemQueue, test fakes) sleep until data or PollTimeout.
type Wakeable interface {
	Queue
	// Wake makes the Poll that sleeps now, or else the next one, return at
	// once. Safe from any goroutine, also after the queue closed.
	Wake() error
}

// backlogQueue is a Queue that tells how many received descriptors wait on
// its RX ring (*xsk.Socket, *xsk.MemQueue); the worker asks after a full
// vector, to see how low a burst took the fill ring (WorkerConfig.FillTarget).
type backlogQueue interface {
	Backlog() int
}
