// Package config reads, checks and writes lanad's configuration file (YAML,
// parsed by goccy/go-yaml) and turns its stack into engine verbs.
//
// A File has two halves. The host half (interfaces, queues, CPUs, poll mode,
// steering, UMEM size, control socket, metrics) is fixed for the life of a
// lanad process: a reload that changes it is refused. The stack half (blocks,
// bindings, subscriptions, hook) is what the control API changes at runtime;
// Diff computes the verbs that turn the running stack into a file's stack,
// so that a reload is one engine transaction.
//
// Every error names its place in the file as "FILE:LINE: ..." (Load) or
// "line N" (Parse), and states the rule broken. Stack errors found by the
// engine (unknown type, bad option, cycle, port taken) are found by Check,
// which applies the verbs one by one to a scratch engine.Graph, so that the
// failing block or binding points at its own line.
//
// Traps: option values are strings. The file may write them unquoted
// (promisc: true, type.ipv4: 0x0800); the literal text is kept, so 0x0800
// stays "0x0800" rather than becoming 2048. Check instantiates blocks in a
// scratch graph that is then dropped: block types whose Start takes
// resources beyond memory would leak them (none of LANA's blocks does).
package config
