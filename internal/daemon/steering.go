package daemon

import (
	"slices"

	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/internal/config"
	"github.com/lana-net/lana/xsk"
)

// Steering follows the stack. Each interface's configured steering is the
// floor (default "lana": the whole vlink range 0xAC00-0xAFFF, as before);
// the ethertypes that the stack's Steerer blocks ask for (a vlink reachable
// from the hook asks for 0xAC00|port, engine.Graph.EtherTypes) are added to
// it after every successful change, and dropped again when they leave the
// stack. "all" stays all. To hand LANA only what its vlinks need, configure
// a narrow floor (for example steering: "0x88B5").
//
// The union is applied to every interface's program: one stack serves all
// of lanad's queues, so any of them may deliver a vlink's frames.

// connector is implemented by blocks that need the engine once they are
// live (a vlink with a TAP device: engine.Port and Worker.Release).
type connector interface {
	Connect(e *engine.Engine, name string) error
}

// follow brings the XDP steering and the blocks' engine connections up to
// date with the running stack. The caller holds r.mu (or is Start); it runs
// after every successful transaction. Failures are logged, not returned:
// the transaction itself has succeeded and stays.
func (r *Runtime) follow() {
	var want []uint16
	var names []string
	r.eng.View(func(g *engine.Graph) {
		want = g.EtherTypes()
		names = g.Names()
	})
	for _, n := range names {
		b, err := r.eng.Instance(n)
		if err != nil {
			continue
		}
		if c, ok := b.(connector); ok {
			if err := c.Connect(r.eng, n); err != nil {
				r.log.Warn("connect block", "block", n, "err", err)
			}
		}
	}
	for _, p := range r.progs {
		floor, err := config.ParseSteering(r.steeringOf(p.ifname))
		if err != nil { // checked at load: cannot happen
			r.log.Warn("steering", "interface", p.ifname, "err", err)
			continue
		}
		s := widen(floor, want)
		if same(p.prog.Steering(), s) {
			continue
		}
		if err := p.prog.SetSteering(s); err != nil {
			r.log.Warn("set steering", "interface", p.ifname, "steering", s.String(), "err", err)
			continue
		}
		r.log.Info("steering", "interface", p.ifname, "steering", p.prog.Steering().String())
	}
}

// widen returns floor plus the ethertypes in want that it does not steer.
func widen(floor xsk.Steering, want []uint16) xsk.Steering {
	if floor.All {
		return floor
	}
	s := xsk.Steering{EtherTypes: slices.Clone(floor.EtherTypes)}
	if s.EtherTypes == nil {
		s.EtherTypes = []xsk.EtherTypeRange{}
	}
	for _, t := range want {
		if !floor.Steers(t) {
			s.EtherTypes = append(s.EtherTypes, xsk.EtherTypeRange{First: t, Last: t})
		}
	}
	return s
}

// same reports whether a and b steer the same ethertypes.
func same(a, b xsk.Steering) bool {
	if a.All || b.All {
		return a.All == b.All
	}
	for t := 0x0600; t <= 0xffff; t++ {
		if a.Steers(uint16(t)) != b.Steers(uint16(t)) {
			return false
		}
	}
	return true
}

// steeringOf returns interface name's configured steering.
func (r *Runtime) steeringOf(name string) string {
	for _, ifc := range r.file.Interfaces {
		if ifc.Name == name {
			return ifc.Steering
		}
	}
	return ""
}
