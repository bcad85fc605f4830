// Package xsk is LANA's AF_XDP layer, built directly on golang.org/x/sys/unix:
// UMEM, the four rings, the socket, the XDP program that steers frames to the
// sockets (program*.go), and MemQueue, a kernel-less stand-in for benchmarks.
// It is the only LANA package that uses unsafe and raw syscalls.
//
// # Objects and lifetimes
//
// A UMEM is FrameCount frames of FrameSize bytes, addressed by byte offset.
// Open maps one per socket, or shares one (Config.Shared) between sockets on
// different queues or interfaces; the memory is unmapped when its last socket
// closes. A socket has four rings: userspace produces into the fill ring
// (free frames for the kernel to receive into) and the TX ring (frames to
// send); the kernel produces into the RX ring (received frames) and the
// completion ring (sent frames, free again). Every frame is owned by exactly
// one side at a time; this package does not track frames, callers do:
//
//	Refill -> kernel receives -> Receive -> (process) -> Refill or Transmit
//	Transmit -> kernel sends -> Complete -> (reuse)
//
// A slice from UMEM.Frame aliases the UMEM and is valid only while the caller
// owns that frame; after Close every such slice is invalid.
//
// # Who may call what
//
// A Socket or MemQueue is single-owner: one goroutine calls Receive, Refill,
// Transmit, Complete, Poll and Stats, and the ring accessors' methods. Nothing
// on that path locks, allocates or returns errors (counts only); the shared
// ring indices are the only atomics, and each ring reads the kernel's index
// only when its cached copy cannot satisfy a request. LANA's own counters
// (Stats) are plain fields for the same reason. Open and Close may run on any
// goroutine, but Close only after the owner stopped using the socket. The one
// method for other goroutines is Socket.Wake, which ends the owner's Poll
// early through an eventfd that Poll waits on next to the socket (a write(2):
// call it only when the owner sleeps).
//
// Open must run in the network namespace of the interface (on a locked OS
// thread, as testbed.Pair.Do does); the socket works from any goroutine
// afterwards.
//
// # Traps
//
//   - No packet arrives until an XDP program redirects the queue into the
//     socket (Program.Register with FD) and the fill ring holds frames.
//   - The kernel publishes its fill-ring consumer index lazily: frames it has
//     already delivered can still occupy fill slots. Make FillSize at least
//     the number of frames a socket cycles (twice is comfortable), or keep
//     what Refill did not take and offer it again.
//   - Received descriptors point PacketHeadroom (+ Headroom) bytes into their
//     frame; Refill accepts any address inside a frame (FrameBase is tidy).
//   - need_wakeup (on by default): the kernel flags a ring when it must be
//     woken. Only zero-copy drivers use it on the fill ring (Poll wakes them);
//     in copy mode (every veth) TX runs only inside sendto, so Transmit and
//     Complete kick whenever descriptors wait, whatever the flag says.
//   - Copy-mode RX is driven by the device's NAPI; a veth has NAPI only while
//     an XDP program is attached.
//   - Closing a socket frees its queue asynchronously in the kernel; Open
//     retries a busy queue for up to a second before failing.
//   - ModeAuto tries zero-copy and falls back to copy; Socket.Mode says which.
//     A socket sharing a UMEM inherits the first socket's mode and wakeup
//     setting (the kernel takes no flags there).
package xsk
