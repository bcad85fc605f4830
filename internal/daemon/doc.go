// Package daemon is lanad's inside: Runtime binds a configuration to the
// kernel (one XDP program per interface, one AF_XDP socket and one pinned
// engine worker per queue, the stack applied to the engine) and Server
// exposes it as the HTTP+JSON control API of package api on a Unix socket,
// plus optional Prometheus metrics.
//
// # Lifetimes
//
// Start opens everything or nothing: on error every socket and program made
// so far is closed. The XDP programs are attached with bpf_link and pinned
// nowhere, so when lanad dies, even by SIGKILL, the kernel detaches them and
// the NICs carry no program. Close drains: it unregisters the sockets (the
// program then passes frames to the kernel's stack), waits until the workers
// have emptied their RX rings, stops the engine, closes its blocks, the
// sockets and the programs.
//
// # Concurrency
//
// Runtime's methods are safe from any goroutine. Changes (Apply, Reload)
// are serialised by Runtime.mu, so a reload's snapshot-diff-apply is one
// step that no API call can interleave with; the engine itself publishes each
// change to the workers with one atomic swap.
//
// # Traps
//
//   - Per-socket kernel counters come from xsk.Socket.Stats, which also
//     copies the socket's own plain counters while the worker writes them;
//     only the kernel half (XDP_STATISTICS, read by getsockopt) is used.
//   - Peer credentials are read once per connection (SO_PEERCRED gives the
//     credentials at connect time); supplementary groups come from
//     /proc/PID/status of the connecting process.
//   - Handlers recover from panics and answer 500, so no request can stop
//     the daemon.
package daemon
