package daemon

import (
	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/internal/config"
)

// applyEngine applies engine verbs as one transaction under the runtime's
// change lock (the data socket's creations and removals).
func (r *Runtime) applyEngine(verbs ...engine.Verb) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if err := r.eng.Apply(verbs...); err != nil {
		return err
	}
	for _, v := range verbs {
		r.log.Info("applied", "verb", v.String(), "by", "data socket")
	}
	return nil
}

// isolate returns the verbs that unbind, unhook and remove block name as
// the graph stands now (nothing when it is gone).
func (r *Runtime) isolate(name string) []engine.Verb {
	var verbs []engine.Verb
	r.eng.View(func(g *engine.Graph) {
		if _, err := g.Block(name); err != nil {
			return
		}
		for _, b := range config.Snapshot(g).Bindings {
			if b.Above == name || b.Below == name || cutPort(b.Below) == name {
				verbs = append(verbs, verb("unbind", b.Below, b.Above))
			}
		}
		if g.Hooked() == name {
			verbs = append(verbs, verb("unhook"))
		}
		verbs = append(verbs, verb("rm", name))
	})
	return verbs
}

func cutPort(s string) string {
	for i := range len(s) {
		if s[i] == ':' {
			return s[:i]
		}
	}
	return s
}
