// Package engine moves packets through a hot-swappable graph of functional
// blocks: one pinned worker goroutine per NIC queue receives a vector of up
// to VectorSize frames from its AF_XDP rings, calls each block once per
// vector, and recycles, transmits or hands over every frame.
//
// # Pieces
//
//   - Packet and Vector: a Packet is a view into its UMEM frame (data with
//     adjustable head and tail inside the headroom, the frame address and a
//     little parsed metadata). Vectors are preallocated per worker.
//   - Block: Configure -> Info -> Start -> TakeState (on replace) ->
//     Process* -> Close. Blocks register by type name in init().
//   - Graph: the mutable description the control plane edits with verbs
//     (add, rm, set, bind, unbind, replace, replace-drop, subscribe,
//     unsubscribe, hook, unhook). Engine.Apply runs a list of verbs as one
//     transaction and compiles the result into an immutable structure of
//     nodes and next indexes that workers follow without map lookups.
//   - Worker: the data path. See WorkerConfig for pinning and poll modes.
//
// # Lifetimes and traps
//
// A Packet, its Data slice and the Vector are valid only during the Process
// call. A block that wants a frame beyond that returns VerdictConsumed and
// keeps Packet.Addr; it must give the frame back to the same worker through
// Worker.Release or Port.Send, from any goroutine.
//
// Reconfiguration never blocks a worker: Apply publishes the new compiled
// graph with an atomic pointer store; each worker loads the pointer once per
// vector. Apply then waits until every worker has loaded the new graph or is
// parked (holding no graph: asleep in Poll, stopped, or between RunOnce
// calls), and only then closes the blocks that left the stack. A sleeping
// worker is parked, so Apply never waits longer than a vector's processing.
// Because a worker switches graphs only between vectors, a queue's packets
// are never lost, duplicated or reordered by a swap.
//
// Started blocks are never mutated by the control plane: set builds a new
// instance with the merged options, which takes the old one's state. Block
// state that must survive a swap is per worker and moved by reference in
// TakeState (each worker runs either the old or the new block, never both,
// so every per-worker slot keeps a single writer).
//
// Statistics are per worker, padded to cache lines, written by their worker
// with a plain load and an atomic store once per vector (no locked
// read-modify-write, no shared lines), and summed when read.
//
// Every frame of a worker is always in exactly one place: the fill or RX
// ring, the TX or completion ring, the worker's free list, or held by a
// block that consumed it. Worker.Stats().Frames counts them.
package engine
