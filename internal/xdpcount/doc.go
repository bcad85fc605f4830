// Package xdpcount provides the smallest useful XDP programs, written with
// cilium/ebpf's asm package (there is no C toolchain): each counts the frames
// and bytes it sees in a per-CPU array and returns a fixed verdict.
//
//   - Drop counts and returns XDP_DROP: the kernel's XDP_DROP baseline, and
//     the receiver that paces a generator (Counter.Consumed is a
//     livegen.Config.Pace function).
//   - Pass counts and returns XDP_PASS: frames continue to the Linux stack
//     (the "stack" baseline, or an AF_PACKET capture) while being counted.
//
// # Lifetimes and traps
//
// Attach loads the program and attaches it through a bpf_link in driver
// (native) mode. The interface index is resolved in the network namespace of
// the calling thread, so call Attach inside the interface's namespace (for
// example within testbed.Pair.Do); the Counter is usable from any goroutine
// afterwards. Close detaches and frees program and map. Deleting the
// namespace also detaches the link, after which Close still releases the
// file descriptors.
//
// A veth end accepts frames that its peer transmits with XDP (XDP_TX or
// XDP_REDIRECT, as livegen does) only while the receiving end has NAPI
// enabled, which attaching any XDP program to it does.
//
// Count sums the per-CPU slots with one map lookup (a bpf syscall, around a
// microsecond); it is meant to be polled, not called per frame.
package xdpcount
