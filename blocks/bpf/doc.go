// Package bpf is the "bpf" block type: a classic BPF packet filter given as
// a pcap-filter expression or as a raw program, compiled by internal/cbpf
// into Go closures. Import it for its side effect to make the type
// available to the engine:
//
//	import _ "github.com/lana-net/lana/blocks/bpf"
//
// It lives apart from package blocks so that binaries which never filter
// do not link the compiler.
//
// Lifetimes and traps: a Filter is immutable once started; set builds a new
// instance with the merged options, and if the new program does not compile
// the set is refused and the old instance keeps filtering. Because options
// merge, switching from filter= to program= needs filter= (empty) in the
// same set. Counters and per-worker machines are indexed by Vector.Worker
// and written only by that worker; the counters move to the replacing
// instance by reference (TakeState). Frames are never kept after Process.
package bpf
