package engine

import "sort"

// node is one block in one direction inside a compiled graph. Workers read
// it; nobody writes it after compile.
type node struct {
	block   Block
	name    string // the block's name, for failure reports
	slot    *slot
	dir     Direction
	next    []int32 // [0]: continue target; [1+k]: named output k (ingress only); -1: none
	turn    int32   // target of VerdictTurnAround, -1: none
	reasons int     // number of block drop reasons
	// keepsLength is the block's Info.KeepsLength.
	keepsLength bool
}

// compiled is the immutable form of a Graph that workers follow. Node 2i is
// block i's ingress, node 2i+1 its egress; all references are indexes.
type compiled struct {
	gen   uint64
	nodes []node
	entry int32 // ingress node of the hooked block, -1 when unhooked
	// egressBySlot maps the slot id of each block in the graph to its
	// egress node, for frames injected by applications. Slot ids only grow
	// (one per block ever added), so a map keeps each compile proportional
	// to the graph rather than to the engine's history.
	egressBySlot map[uint32]int32
}

// compile turns g into the structure workers read. g has been validated by
// its verbs (no cycles, no dangling names, one binding per port), so
// compile cannot fail.
func compile(g *Graph, gen uint64) *compiled {
	names := make([]string, 0, len(g.blocks))
	for n := range g.blocks {
		names = append(names, n)
	}
	sort.Strings(names)
	idx := make(map[string]int32, len(names))
	for i, n := range names {
		idx[n] = int32(i)
	}
	in := func(name string) int32 {
		if name == "" {
			return -1
		}
		return 2 * idx[name]
	}
	eg := func(name string) int32 {
		if name == "" {
			return -1
		}
		return 2*idx[name] + 1
	}
	c := &compiled{gen: gen, nodes: make([]node, 2*len(names)), entry: -1}
	// Every node's next targets in one array: one allocation per compile
	// instead of two per block, and the workers find them side by side.
	targets := 2 * len(names)
	for _, d := range g.blocks {
		targets += len(d.info.Outputs)
	}
	next := make([]int32, targets)
	for i, n := range names {
		d := g.blocks[n]
		ing := node{block: d.inst, name: n, slot: d.slot, dir: Ingress, turn: eg(d.down), reasons: len(d.info.Reasons),
			keepsLength: d.info.KeepsLength}
		ing.next, next = next[:1+len(d.info.Outputs):1+len(d.info.Outputs)], next[1+len(d.info.Outputs):]
		ing.next[0] = in(d.up)
		for k, o := range d.info.Outputs {
			ing.next[1+k] = in(d.outs[o])
		}
		egr := node{block: d.inst, name: n, slot: d.slot, dir: Egress, turn: in(d.up), reasons: len(d.info.Reasons),
			keepsLength: d.info.KeepsLength}
		egr.next, next = next[:1:1], next[1:]
		egr.next[0] = eg(d.down)
		c.nodes[2*i], c.nodes[2*i+1] = ing, egr
	}
	c.egressBySlot = make(map[uint32]int32, len(names))
	for i, n := range names {
		c.egressBySlot[g.blocks[n].slot.id] = int32(2*i + 1)
	}
	if g.hook != "" {
		c.entry = in(g.hook)
	}
	return c
}
