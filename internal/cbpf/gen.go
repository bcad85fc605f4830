package cbpf

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// node is a boolean filter expression: and, or, not, or a leaf test.
type node interface{ isNode() }

type andNode struct{ l, r node }
type orNode struct{ l, r node }
type notNode struct{ x node }

// leaf runs straight-line loads, then one conditional jump on A.
type leaf struct {
	loads []bpf.RawInstruction
	jop   uint16 // opJeqK, opJgtK, opJgeK or opJsetK
	k     uint32
}

func (andNode) isNode() {}
func (orNode) isNode()  {}
func (notNode) isNode() {}
func (leaf) isNode()    {}

func and(ns ...node) node {
	n := ns[0]
	for _, r := range ns[1:] {
		n = andNode{n, r}
	}
	return n
}

func or(ns ...node) node {
	n := ns[0]
	for _, r := range ns[1:] {
		n = orNode{n, r}
	}
	return n
}

// AcceptLen is what compiled expressions return for an accepted frame
// (tcpdump's default snapshot length).
const AcceptLen = 262144

// generator emits a program backwards, so every jump target is known when
// the jump is written. Position p counts from the end (the last
// instruction is 0); a jump at p to q < p has offset p-q-1.
type generator struct {
	rev []bpf.RawInstruction
}

func (g *generator) emit(ins bpf.RawInstruction) int {
	g.rev = append(g.rev, ins)
	return len(g.rev) - 1
}

// near makes target q reachable by an 8-bit offset from the next position,
// through a ja trampoline when it is too far.
func (g *generator) near(q int) int {
	if len(g.rev)-q-1 <= 255 {
		return q
	}
	return g.emit(bpf.RawInstruction{Op: opJa, K: uint32(len(g.rev) - q - 1)})
}

// gen emits n so that it continues at t when true and f when false, and
// returns n's entry position.
func (g *generator) gen(n node, t, f int) int {
	switch n := n.(type) {
	case andNode:
		return g.gen(n.l, g.gen(n.r, t, f), f)
	case orNode:
		return g.gen(n.l, t, g.gen(n.r, t, f))
	case notNode:
		return g.gen(n.x, f, t)
	case leaf:
		// A trampoline for one branch moves the other one a step further:
		// repeat until both are in reach (at most twice each).
		for {
			nt := g.near(t)
			nf := g.near(f)
			if nt == t && nf == f {
				break
			}
			t, f = nt, nf
		}
		p := len(g.rev)
		e := g.emit(bpf.RawInstruction{Op: n.jop, Jt: uint8(p - t - 1), Jf: uint8(p - f - 1), K: n.k})
		for i := len(n.loads) - 1; i >= 0; i-- {
			e = g.emit(n.loads[i])
		}
		return e
	}
	panic(fmt.Sprintf("cbpf: unknown node %T", n))
}

// program lays out root followed by "ret #AcceptLen" and "ret #0".
func program(root node) ([]bpf.RawInstruction, error) {
	g := &generator{}
	rej := g.emit(bpf.RawInstruction{Op: opRetK, K: 0})
	acc := g.emit(bpf.RawInstruction{Op: opRetK, K: AcceptLen})
	g.gen(root, acc, rej)
	if len(g.rev) > MaxInstructions {
		return nil, fmt.Errorf("%w: expression compiles to %d instructions, at most %d allowed", ErrTooLong, len(g.rev), MaxInstructions)
	}
	prog := make([]bpf.RawInstruction, len(g.rev))
	for i, ins := range g.rev {
		prog[len(prog)-1-i] = ins
	}
	return prog, nil
}
