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
// send it. The engine hands frames out only to blocks that consume them, so
// in sink mode the block keeps up to `pool` of the frames it has already
// copied (VerdictConsumed) in a per-worker pool instead of freeing them;
// Export.Send takes one, copies the application's bytes into it and hands it
// to the worker through engine.Port.Send, which walks the egress chain. An
// application therefore sends as many frames as it received, plus the pool,
// in the long run; request/response services (echo, chat) never notice.
// Send reports ErrNoFrame when the pool is empty.
//
// # Lifetimes
//
// An Export is created at the block's Start and moves by reference to the
// instance that replaces the block with state (set, replace); replace-drop
// and rm close it: pooled frames go back to their workers (Worker.Release),
// Done is closed and the client gets ErrClosed. Sizes (queue, snap, pool)
// are fixed when the block is added; set keeps the running sizes.
//
// # Concurrency
//
// Each ring has one writer (its worker) and one reader (the attached
// client, serialised by Export's reader lock); positions are atomics, the
// producer publishes its tail once per vector. Pools are the same shape in
// the other direction of ownership: the worker produces frames, Send (under
// the sender lock) consumes them. Counters are per worker, single writer.
package sockexport
