// Package appwire is the wire format of lanad's data socket, the leaf that
// both the daemon and the Go client (package app) import. The format is
// specified for every language in docs/app-protocol.md; this package is its
// Go rendering and holds no I/O.
//
// Every message is one SOCK_SEQPACKET datagram: an 8-byte Header (version,
// type, flags, body length; big-endian) and a body. Messages are built into
// and parsed from caller-owned buffers: AppendHeader, PutMeta and Parse
// never allocate, so a client can move frames without garbage.
package appwire
