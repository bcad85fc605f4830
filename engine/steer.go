package engine

import "sort"

// Steerer is implemented by blocks that need frames of particular
// ethertypes to reach LANA at all (a vlink needs 0xAC00|port). The engine
// knows nothing about how frames are steered to its queues; whoever owns
// the steering (lanad and its XDP programs) asks the graph for the union
// with Graph.EtherTypes after every change and applies it.
//
// EtherTypes is called on the control plane (under the engine's lock, from
// View), never by a worker; it must return the same set for the life of a
// started instance, since options change only by replacing the instance.
type Steerer interface {
	EtherTypes() []uint16
}

// EtherTypes returns, sorted and without duplicates, the ethertypes that the
// Steerer blocks of the stack ask for. Only blocks reachable on the ingress
// path from the hooked block count (through continue and named outputs):
// a block that no received frame can reach has no use for its frames, so
// an unhooked graph or an unbound vlink asks for nothing.
func (g *Graph) EtherTypes() []uint16 {
	if g.hook == "" {
		return nil
	}
	seen := map[string]bool{}
	set := map[uint16]bool{}
	stack := []string{g.hook}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		d, ok := g.blocks[n]
		if !ok || seen[n] {
			continue
		}
		seen[n] = true
		if s, ok := d.inst.(Steerer); ok {
			for _, t := range s.EtherTypes() {
				set[t] = true
			}
		}
		if d.up != "" {
			stack = append(stack, d.up)
		}
		for _, up := range d.outs {
			if up != "" {
				stack = append(stack, up)
			}
		}
	}
	out := make([]uint16, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
