// Package cbpf validates, compiles and runs classic BPF (cBPF) packet
// filters without cgo: raw programs in `tcpdump -dd` / `-ddd` text form
// (ParseText), pcap-filter expressions for a documented subset
// (CompileExpr), and a closure compiler (Load) that runs them far faster
// than an instruction-switch interpreter.
//
// # Pieces
//
//   - Validate checks a raw program the way the Linux kernel does before it
//     accepts one: 1..MaxInstructions instructions, known opcodes only,
//     forward jumps inside the program, a return as last instruction,
//     no division or modulo by constant zero, no shift by 32 or more,
//     scratch indexes below 16, no ancillary (negative offset) loads.
//   - Load validates and turns every instruction into a Go closure whose
//     jump targets are resolved at load time; common pairs (a packet load
//     followed by a conditional jump on A) fuse into one closure.
//   - Program.Run executes it on a frame with a caller-owned Machine.
//
// # Semantics
//
// Run keeps exact classic BPF semantics as golang.org/x/net/bpf's VM (the
// test oracle) implements them: a load past the end of the frame returns 0,
// division or modulo by X == 0 returns 0, shifts use Go semantics, scratch
// memory starts zeroed on every run. The return value is the raw accept
// length; callers decide what it means (the bpf block only tests for 0).
//
// # Lifetimes and traps
//
// A Program is immutable after Load and safe for concurrent use; a Machine
// holds one run's registers and must be used by one goroutine at a time
// (one per worker). Run keeps no reference to the frame after it returns.
package cbpf
