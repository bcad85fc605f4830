// Package livegen puts test frames on a live interface, as fast as the
// kernel allows: the traffic source of LANA's benchmarks.
//
// A Generator (one per mode) runs once: Run blocks on a locked OS thread,
// inside the interface's network namespace (Config.Do) and pinned to one CPU
// (Config.CPU), until Config.Count frames went out, Config.Duration passed or
// the context ended. Sent may be polled from other goroutines meanwhile.
//
// # xdp-live
//
// XDPLive runs a tiny XDP program with BPF_PROG_RUN and
// BPF_F_TEST_XDP_LIVE_FRAMES. The kernel allocates pages from a page pool of
// BatchSize pages, copies the template frame into each new page, runs the
// program and, for XDP_TX, redirects the frame out of the ingress interface
// (Config.Ifindex): on a veth end it lands in the peer's XDP ring. Recycled
// pages are not guaranteed to be re-initialised, so the program rewrites every
// field it varies (UDP source port for flow i%Flows, the sequence number i)
// on every frame; the UDP checksum is then 0 ("none").
//
// One BPF_PROG_RUN call costs a page-pool setup and a teardown that waits for
// pages still in flight: about 30 ms on Linux 6.18, with CPU 0 idle
// meanwhile. Sending in small chunks from Go is therefore hopeless (2,400
// frames/s with 64-frame calls), and even million-iteration calls left the
// sending CPU idle about 17% of the time. So a run is one call of up to 2^32
// iterations that the program steers itself, and a watcher goroutine ends it:
// it polls the program's state every 5 ms (Sent stays live) and, on
// the duration, the context or the count, sends SIGURG to the sending thread
// until the kernel has returned EINTR. The call is made directly, not through
// cilium/ebpf's Program.Run, which restarts a call that ends in EINTR. The
// program does what a Go loop between calls would:
//
//   - Count: the program drops (does not send) frames once its counter
//     reaches the limit, so exactly Count frames leave. Unpaced and without
//     a rate every iteration sends, and the call is exactly Count long.
//   - Pacing: with Config.PaceMap (the receiver's per-CPU counter, or a plain
//     array) the program keeps at most Outstanding frames in flight, and it
//     works in the kernel's batches of BatchSize iterations (64 by default:
//     half of Outstanding). The kernel hands queued frames to the peer 16 at
//     a time but wakes the peer's NAPI only when a batch ends, so a frame
//     sent early in a batch may wait for the batch's end. At the first
//     iteration of a batch the program reads the receiver's count and, if a
//     whole batch may not go yet, waits for it by spinning in bpf_loop
//     (looking every 32 turns, about 100 µs at most); the batch then sends
//     back to back and its end wakes the receiver. Waiting costs no page this
//     way: a skipped iteration (drop without sending) still allocates a page
//     and returns it through the page pool's locked ring, the lock the
//     receiver takes for every frame it frees, and skipped iterations made
//     up 20% of the sending CPU's time in the lock's slow path before. Only a
//     receiver slower than the spin leads to skips: the batch sends what is
//     free and skips the rest.
//   - Rate: with Config.Rate the program compares bpf_ktime_get_ns with the
//     frame's due time and skips until it is due.
//
// Skipped iterations are counted in Result.Skipped. Transmissions the veth
// driver refuses (peer ring full, or no NAPI on the peer: a veth end accepts
// XDP frames only while its peer has an XDP program attached or GRO on) are
// invisible to the program; ethtool -S on the sending end shows them. Paced
// runs never fill the ring.
//
// # afpacket
//
// AFPacket writes frames to an AF_PACKET socket bound to the interface, with
// PACKET_QDISC_BYPASS, one write per frame from a pinned thread: the kernel
// socket baseline. Pacing uses Config.Pace from Go (polled per chunk); the
// kernel's refusals (ENOBUFS) are counted in Result.Refused.
//
// # afxdp
//
// AFXDP sends through a LANA AF_XDP socket (package xsk) bound to
// Config.Queue: Run copies the template frames into a 2048-frame UMEM once
// (frame j holds flow j%Flows, using a multiple of Flows frames), then only
// descriptors move: Transmit a chunk, Complete what the kernel sent, reuse
// those frames. It relies on the kernel completing one socket's descriptors
// in the order they were queued, which it does in copy and zero-copy mode.
// With Frame.Seq the sending thread stamps frame i's sequence number into the
// UMEM frame before queuing it. Pacing uses Config.Pace from Go, as afpacket
// does. On veth the socket runs in copy mode: every kick (sendto) makes the
// kernel build an skb per frame and hand it to the veth, up to the TX budget
// per kick that xsk raises to the ring size where the kernel allows. A frame
// the veth refuses is completed anyway (sendto says EBUSY), so Refused is not
// observable; ethtool -S on the sending end counts those.
//
// # Why pacing
//
// A veth receiver has a 256-slot ring. A generator that outruns it makes the
// sender and the receiver's NAPI thread contend for the ring and the page
// pool, and results turn bimodal. Pacing on the receiver's own count keeps the
// ring half full at most; the measured rate is then the receiver's.
package livegen
