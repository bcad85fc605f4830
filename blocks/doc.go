// Package blocks holds LANA's functional block types: dummy, counter, tee,
// eth and vlink (virtual links, optionally shown as TAP devices).
// Importing the package (even as _) registers every type with the engine by
// name.
//
// The blocks live in one package, one file per block, because they are
// small, share one helper (per-worker padded counters) and every user wants
// all of them registered at once; a package per block would add an import
// line per type to every binary and test without separating anything.
//
// Lifetimes and traps: a block is immutable once started; options change by
// building a new instance (engine.Graph.Set), which takes the old one's
// state through TakeState. Per-worker state is indexed by Vector.Worker and
// written only by that worker; readers sum it. Packet data slices alias UMEM
// frames and must not be kept after Process returns.
//
// vlink's TAP device (tap.go, tap_linux.go) is the one place here with
// goroutines and raw ioctls (TUNSETIFF, TUNSETCARRIER through x/sys/unix,
// no unsafe): workers hand it copies through bounded channels and never
// wait for it.
package blocks
