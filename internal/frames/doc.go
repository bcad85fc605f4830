// Package frames crafts the test frames LANA's generators send: Ethernet/IPv4/UDP
// frames spread over several flows, and LANA vlink frames (ethertype
// 0xAC00|port).
//
// Frames are built with gopacket's layers and a SerializeBuffer. That costs
// allocations and microseconds per frame, so Build belongs in setup code, never
// on a hot path: generators build their templates once and replay them.
//
// # Sizes
//
// Spec.Size is the frame's length on the wire INCLUDING the 4-byte FCS, the
// way frame sizes are quoted in benchmarks ("64-byte frames"). The FCS is
// added by hardware (and veth has none), so the slices Build returns are
// Size-4 bytes long: 60 bytes for the default 64.
//
// # Layout
//
// A UDP frame is Ethernet (14) + IPv4 without options (20) + UDP (8) +
// payload. A vlink frame is Ethernet (14) + payload. The payload of frame i
// starts with i as a big-endian uint64 when Spec.Seq is set (SeqAt reads it
// back); the rest of the payload is a fixed pattern (byte j of the payload is
// byte(j)) so a receiver can check that a frame arrived intact. Frame i
// belongs to flow i%Flows, whose UDP source port is SrcPort+flow. Offsets
// reports where the rewritable fields sit, for generators that patch a
// template in place.
//
// # Addresses
//
// Every address must lie in the benchmarking range 198.18.0.0/15 (RFC 2544)
// unless Spec.AllowAnyAddress is set: test traffic must never look routable.
package frames
