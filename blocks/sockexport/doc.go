// Package sockexport is the socket-export block: the point where frames
// leave the engine for an application and where an application's frames
// enter the engine's egress path. lanad's data socket (see
// docs/app-protocol.md) connects one client to one block; the block itself
// knows nothing of sockets, only of an Export it shares with that client.
//
// # Data path
//
// Ingress: the worker copies each frame that reaches the block into a
// bounded single-producer single-consumer ring of its own (one per worker,
// preallocated at Start), then frees the frame at once (sink mode) or lets it
// continue (tap mode, used by captures). A full ring counts a drop and never
// waits: a slow reader can only lose its own frames. The client's goroutine
// empties the rings (Export.Next).
//
// Egress: an application's frame needs a UMEM frame of the worker that will
// send it. Export.Send allocates one from a worker's spare ring
// (engine.Port.Alloc; round-robin over the workers), copies the
// application's bytes into it after xsk.PacketHeadroom bytes of headroom
// and hands it to that worker through engine.Port.Send, which walks the
// egress chain. Sending needs no received traffic: a send-only application
// sends as fast as the workers recycle frames (the spare ring holds
// engine.WorkerConfig.Spare frames per worker and is topped up between
// vectors and before a worker sleeps). Send reports ErrNoFrame when no
// worker has a spare frame at that moment; the caller retries later. A
// frame Send allocated but could not hand over (full hand-off queue, too
// long a frame) is kept for the next Send to that worker.
//
// # Lifetimes
//
// An Export is created at the block's Start and moves by reference to the
// instance that replaces the block with state (set, replace); replace-drop
// and rm close it: kept frames go back to their workers (engine.Port.Free),
// Done is closed and the client gets ErrClosed. Sizes (queue, snap) are
// fixed when the block is added; set keeps the running sizes.
//
// # Concurrency
//
// Each ring has one writer (its worker) and one reader (the attached
// client, serialised by Export's reader lock); positions are atomics, the
// producer publishes its tail once per vector. Send and close run under the
// sender lock, which also guards the kept frames; the workers never take
// it. Counters are per worker, single writer.
package sockexport
