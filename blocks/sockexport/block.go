package sockexport

import (
	"time"

	"github.com/lana-net/lana/engine"
)

func init() { engine.Register(Type, func() engine.Block { return &Block{} }) }

// Type is the block type name.
const Type = "socket-export"

// Defaults and bounds of the options.
const (
	// DefaultQueue is the per-worker ingress queue depth in frames.
	DefaultQueue = 256
	// MaxQueue bounds the queue option.
	MaxQueue = 65536
	// DefaultSnap is the most bytes copied per frame; longer frames are cut
	// (Meta.Orig keeps the length they had).
	DefaultSnap = 2048
	// MaxSnap bounds the snap option.
	MaxSnap = 65535
)

// Drop reasons, in Info().Reasons order (sink mode only).
const (
	dropDelivered = iota // copied to the client; the frame is freed
	dropQueueFull        // the client's queue was full
	dropNoClient         // no client attached
)

// Block is the socket-export block.
//
// Options (queue, snap and tap are fixed when the block is added):
//   - queue=256   per-worker ingress queue depth in frames, a power of two
//     from 1 to 65536.
//   - snap=2048   most bytes copied per frame (1..65535).
//   - tap=false   true: copy frames in both directions and let them
//     continue (what captures use); false (sink): ingress frames end here.
//
// Outputs: none. Verdicts, sink mode: ingress frames are freed (drop reason
// "delivered", "queue-full" or "no-client"); egress frames (the
// application's, in UMEM frames from engine.Port.Alloc) continue down. Tap
// mode: always continue. Drop reasons: "delivered", "queue-full",
// "no-client".
// Counters: Export().Stats().
type Block struct {
	queue, snap int
	tap         bool

	x       *Export // shared with the client; moves to a replacing instance
	adopted bool    // x was taken by a replacing instance; Close leaves it
}

// Configure parses queue, snap and tap, reporting every error.
func (b *Block) Configure(opts engine.Options) error {
	p := engine.NewOptionParser(opts)
	b.queue = int(p.Uint("queue", DefaultQueue, 1, MaxQueue))
	if b.queue&(b.queue-1) != 0 {
		p.Fail("queue", opts["queue"], "must be a power of two")
	}
	b.snap = int(p.Uint("snap", DefaultSnap, 1, MaxSnap))
	b.tap = p.Bool("tap", false)
	return p.Err()
}

// Info reports the drop reasons.
func (b *Block) Info() engine.Info {
	return engine.Info{Reasons: []string{"delivered", "queue-full", "no-client"}}
}

// Start allocates the per-worker queues.
func (b *Block) Start(env engine.Env) error {
	b.x = newExport(env.Name, env.Workers, b.queue, b.snap, b.tap)
	return nil
}

// TakeState adopts the replaced block's Export by reference, so an attached
// client keeps its queues and counters across set and replace.
func (b *Block) TakeState(old engine.Block) {
	if o, ok := old.(*Block); ok && len(o.x.lanes) == len(b.x.lanes) {
		b.x = o.x
		o.adopted = true
	}
}

// Export returns the state a client attaches to; it stays the same across
// set and replace of the block.
func (b *Block) Export() *Export { return b.x }

// Process copies the vector's frames into the worker's queue. Worker only.
// An export takes the ingress frames (each gets a drop verdict saying where
// it went: delivered, queue-full or no-client) and lets the application's
// egress frames pass; a tap copies frames of both directions and lets every
// one continue.
func (b *Block) Process(v *engine.Vector) {
	x := b.x
	if !x.tap && v.Dir == engine.Egress {
		return // the application's frames continue down
	}
	x.enqueue(&x.lanes[v.Worker], v, !x.tap)
}

// enqueue copies v's frames into lane ln and counts them; with own set, the
// frames end here, each with the drop verdict naming its fate. Worker only.
func (x *Export) enqueue(ln *lane, v *engine.Vector, own bool) {
	n := uint64(len(v.Pkts))
	if !x.attached.Load() {
		if own {
			for i := range v.Pkts {
				v.Drop(i, dropNoClient)
			}
		}
		add(&ln.noClient, n)
		return
	}
	head, tail := ln.head.Load(), ln.tail.Load()
	depth := uint64(len(ln.slots))
	now := time.Now().UnixNano()
	var full uint64
	for i := range v.Pkts {
		if tail-head == depth {
			if own {
				v.Drop(i, dropQueueFull)
			}
			full++
			continue
		}
		ln.put(tail, now, &v.Pkts[i], v.Dir, x.snap)
		tail++
		if own {
			v.Drop(i, dropDelivered)
		}
	}
	ln.tail.Store(tail) // publishes the slots to the reader
	add(&ln.delivered, n-full)
	add(&ln.queueFull, full)
	if full < n {
		x.notify()
	}
}

// Close gives kept frames back and tells the client, unless a
// replacing instance adopted the Export.
func (b *Block) Close() error {
	if b.adopted || b.x == nil {
		return nil
	}
	return b.x.close()
}

// Counters implements engine.Reporter: the Export's counters, sends included.
func (b *Block) Counters() map[string]uint64 {
	s := b.x.Stats()
	return map[string]uint64{
		"delivered": s.Delivered, "queue_full": s.QueueFull, "no_client": s.NoClient, "queued": s.Queued,
		"sent": s.Sent, "send_full": s.SendFull, "no_frame": s.NoFrame, "too_long": s.TooLong,
	}
}
