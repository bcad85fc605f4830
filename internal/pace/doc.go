// Package pace is the frame count a receiver publishes to the kernel so that
// the live-frames traffic generator (internal/livegen) keeps the frames in
// flight bounded by what the receiver has actually taken from its ring: a
// one-slot BPF_F_MMAPABLE array whose slot 0 holds a little-endian u64.
//
// # Lifetimes and traps
//
// A Counter is written by one goroutine only (the receiving one: an engine
// worker's OnVector hook, an AF_XDP receive loop); Store is an aligned
// 8-byte store into the map's memory, no system call and no allocation, and
// it is never torn on amd64 or arm64. Load reads the last stored total from
// any goroutine.
//
// A Counter made by New lives until Close. Pin makes it outlive its file
// descriptor in bpffs, so that another process (lanabench's lab, reading
// lanad's count) can open it with Open; Unpin removes the pin, and a pin is
// never removed by Close: whoever pins must unpin, also on failure paths.
// bpffs is often not mounted: MountBPFFS mounts it at /sys/fs/bpf.
package pace
