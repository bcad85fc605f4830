package config

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/lana-net/lana/engine"
)

// Snapshot describes g as a Stack: blocks sorted by name, bindings sorted,
// and only the subscriptions that the bindings do not make by themselves.
// Building the Snapshot's Verbs on an empty graph yields a graph with the
// same blocks, options, bindings, subscriptions and hook.
func Snapshot(g *engine.Graph) Stack {
	s := Stack{Blocks: []Block{}, Hook: g.Hooked()}
	implied := map[[2]string]bool{}
	infos := map[string]engine.BlockInfo{}
	for _, n := range g.Names() {
		bi, err := g.Block(n)
		if err != nil {
			continue // listed by Names: cannot happen
		}
		infos[n] = bi
		var opts Options
		if len(bi.Options) > 0 {
			opts = Options(maps.Clone(map[string]string(bi.Options)))
		}
		s.Blocks = append(s.Blocks, Block{Name: n, Type: bi.Type, Options: opts})
		if bi.Up != "" {
			s.Bindings = append(s.Bindings, Binding{Below: n, Above: bi.Up})
			implied[[2]string{n, bi.Up}], implied[[2]string{bi.Up, n}] = true, true
		}
		for _, o := range slices.Sorted(maps.Keys(bi.Outputs)) {
			if up := bi.Outputs[o]; up != "" {
				s.Bindings = append(s.Bindings, Binding{Below: n + ":" + o, Above: up})
				implied[[2]string{n, up}], implied[[2]string{up, n}] = true, true
			}
		}
	}
	for _, n := range g.Names() {
		for _, sub := range infos[n].Subs {
			if !implied[[2]string{n, sub}] {
				s.Subscriptions = append(s.Subscriptions, Subscription{Block: n, Subscriber: sub})
			}
		}
	}
	return s
}

// subSet returns every subscription s makes, implied by bindings or not.
func (s Stack) subSet() map[[2]string]bool {
	set := map[[2]string]bool{}
	for _, b := range s.Bindings {
		below, _ := cutPort(b.Below)
		set[[2]string{below, b.Above}], set[[2]string{b.Above, below}] = true, true
	}
	for _, sub := range s.Subscriptions {
		set[[2]string{sub.Block, sub.Subscriber}] = true
	}
	return set
}

func cutPort(s string) (string, string) {
	for i := range len(s) {
		if s[i] == ':' {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// Diff returns the verbs that turn the stack cur into want, to be applied
// as one transaction. Blocks whose name and type match keep their instance
// and state; a changed option set is applied by replacing the block with a
// freshly configured one of the same type (replace keeps its state), so that
// removed options really go.
func Diff(cur, want Stack) []engine.Verb {
	var out []engine.Verb
	verb := func(op string, args ...string) { out = append(out, engine.Verb{Op: op, Args: args}) }

	curBlocks := map[string]Block{}
	for _, b := range cur.Blocks {
		curBlocks[b.Name] = b
	}
	wantBlocks := map[string]Block{}
	for _, b := range want.Blocks {
		wantBlocks[b.Name] = b
	}
	gone := map[string]bool{} // current blocks that must be removed
	for _, b := range cur.Blocks {
		if w, ok := wantBlocks[b.Name]; !ok || w.Type != b.Type {
			gone[b.Name] = true
		}
	}
	if cur.Hook != "" && (cur.Hook != want.Hook || gone[cur.Hook]) {
		verb("unhook")
	}
	wantBind := map[Binding]bool{}
	for _, b := range want.Bindings {
		wantBind[b] = true
	}
	curBind := map[Binding]bool{}
	for _, b := range cur.Bindings {
		below, _ := cutPort(b.Below)
		if wantBind[b] && !gone[below] && !gone[b.Above] {
			curBind[b] = true
			continue
		}
		verb("unbind", b.Below, b.Above)
	}
	wantSubs := want.subSet()
	curSubs := map[[2]string]bool{}
	for pair := range cur.subSet() {
		if gone[pair[0]] || gone[pair[1]] {
			continue
		}
		curSubs[pair] = true
	}
	var drop [][2]string
	for pair := range curSubs {
		if !wantSubs[pair] {
			drop = append(drop, pair)
		}
	}
	sort.Slice(drop, func(i, j int) bool {
		return drop[i][0] < drop[j][0] || drop[i][0] == drop[j][0] && drop[i][1] < drop[j][1]
	})
	for _, p := range drop {
		verb("unsubscribe", p[0], p[1])
	}
	for _, b := range cur.Blocks {
		if gone[b.Name] {
			verb("rm", b.Name)
		}
	}
	tmp := 0
	taken := func(n string) bool { _, a := curBlocks[n]; _, b := wantBlocks[n]; return a || b }
	for _, w := range want.Blocks {
		c, ok := curBlocks[w.Name]
		switch {
		case !ok || gone[w.Name]:
			out = append(out, AddVerb(w.Name, w.Type, w.Options))
		case !maps.Equal(c.Options, w.Options):
			name := ""
			for name == "" || taken(name) {
				tmp++
				name = fmt.Sprintf("reload.%d", tmp)
			}
			out = append(out, AddVerb(name, w.Type, w.Options))
			verb("replace", w.Name, name)
		}
	}
	for _, b := range want.Bindings {
		if !curBind[b] {
			verb("bind", b.Below, b.Above)
		}
	}
	for _, s := range want.Subscriptions {
		if !curSubs[[2]string{s.Block, s.Subscriber}] {
			verb("subscribe", s.Block, s.Subscriber)
		}
	}
	if want.Hook != "" && (want.Hook != cur.Hook || gone[want.Hook]) {
		verb("hook", want.Hook)
	}
	return out
}
