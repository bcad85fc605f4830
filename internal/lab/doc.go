// Package lab is the logic of `lanabench lab`: it measures the rows of LANA's
// version of the paper's Table 1 on a private namespace pair (Run), and turns
// the samples into a table, JSON and a bar chart (Summarize, Report.WriteTable,
// Report.WriteJSON, Report.WriteChart).
//
// # Rows
//
// Receiver rows measure how many 64-byte frames a receiver takes on the fair
// veth testbed of package rxbench (generator on one CPU, receiver and the
// receiving veth's NAPI thread together on another, the generator paced on
// what the receiver took): xdp-drop, stack, asavie, and the lanad rows
// (lanad-1, lanad-3, lanad-10: eth followed by that many dummy blocks;
// lanad-swap: lanad-3 while lanad replaces its graph every 10 ms;
// lanad-swap-ctl: the same, each change sent by a client process as it is
// due).
//
// Generator rows measure how many frames a generator on one CPU gets to an
// XDP_DROP receiver on the other: xdp-live, afxdp, afpacket (paced on the
// receiver's count) and trafgen (netsniff-ng's, when on PATH; it cannot be
// paced, so frames the veth refuses show as drops).
//
// # lanad rows
//
// The lanad rows come from a LanadBackend: whatever runs LANA's engine behind
// a receiver. Process runs the lanad daemon, one process per run, forked in
// the receiving namespace and paced on the count it pins in bpffs
// (config.Bench); LocateLanad finds or builds its binary. InProcess runs the
// engine in the lab's process and labels the rows "engine-N" instead of
// "lanad-N", so that a table never claims a daemon measurement it did not
// make. Config.Lanad defaults to InProcess; lanabench lab defaults to Process.
//
// # Lifetimes and traps
//
// Run creates a testbed pair per receiver run and per generator row and
// removes each, with every program, socket and
// process it started, before it returns, also when ctx is cancelled (Ctrl-C):
// a cancelled Run returns the rows finished so far and ctx's error. Run calls
// Config.Progress from its own goroutines; the callback must be quick and
// safe for concurrent use.
package lab
