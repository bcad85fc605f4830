package engine

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
)

// MaxNameLen bounds block names (LANA's limit).
const MaxNameLen = 16

// MaxBlocks bounds the blocks of one graph, counted when a transaction
// ends (so replace works on a full graph). Each block costs per-worker
// counters and two compiled nodes; the limit keeps a runaway script from
// growing the daemon without end.
const MaxBlocks = 1024

// blockDesc is one block in the mutable description. Descriptions are
// shared between a Graph and its clones until one of them changes the
// block (copy on write): only a Graph whose id is owner writes to it, and
// every other Graph takes its own copy first (Graph.own). A transaction
// that changes two blocks of a stack of hundreds copies two descriptions,
// not hundreds, and touches less memory on the receive CPU it may share.
type blockDesc struct {
	owner uint64 // the id of the Graph that may write to it
	name  string
	typ   string
	opts  Options
	inst  Block
	info  Info
	slot  *slot             // stats and stable id; survives replace and set
	up    string            // ingress neighbour (bind name up)
	down  string            // egress neighbour (bind down name, or down:out name)
	outs  map[string]string // named output -> block bound above it; nil when none
	subs  map[string]bool   // blocks that receive this block's events; nil when none
}

// setOut binds b to d's output out.
func (d *blockDesc) setOut(out, b string) {
	if d.outs == nil {
		d.outs = map[string]string{}
	}
	d.outs[out] = b
}

// subscribe makes b receive d's events.
func (d *blockDesc) subscribe(b string) {
	if d.subs == nil {
		d.subs = map[string]bool{}
	}
	d.subs[b] = true
}

func (d *blockDesc) bound() bool { return d.up != "" || d.down != "" || len(d.outs) > 0 }

// stateMove is a TakeState call to make when the transaction commits.
type stateMove struct{ to, from Block }

// Graph is the mutable description of a stack that the control plane edits:
// blocks by name, their bindings, subscriptions and the hooked entry block.
// Every method either succeeds or leaves the Graph as it was. A Graph is not
// safe for concurrent use; the Engine serialises access to its own.
//
// Blocks are instantiated (Configure + Start) when added or set; instances
// that leave the graph are closed by the Engine once no worker can use them.
type Graph struct {
	id       uint64 // owner of the descriptions it may write to (blockDesc)
	blocks   map[string]*blockDesc
	hook     string
	workers  int
	nextSlot *uint32

	// Transaction bookkeeping, reset by the Engine at each commit.
	created []Block     // instances made in this transaction
	retired []Block     // instances that leave the graph
	moves   []stateMove // TakeState calls to run on commit
	events  []pendingEvent
}

// NewGraph returns an empty description for an engine with the given
// number of workers.
func NewGraph(workers int) *Graph {
	var n uint32
	return &Graph{id: graphIDs.Add(1), blocks: map[string]*blockDesc{}, workers: workers, nextSlot: &n}
}

// graphIDs numbers Graphs for blockDesc.owner.
var graphIDs atomic.Uint64

// clone returns a copy of g for a transaction to change. The copy shares
// g's block descriptions. Both g and the copy get new ids,
// so that whichever changes a shared description copies it first.
func (g *Graph) clone() *Graph {
	c := &Graph{id: graphIDs.Add(1), blocks: maps.Clone(g.blocks), hook: g.hook, workers: g.workers, nextSlot: g.nextSlot}
	g.id = graphIDs.Add(1)
	c.created = append([]Block(nil), g.created...)
	c.retired = append([]Block(nil), g.retired...)
	c.moves = append([]stateMove(nil), g.moves...)
	c.events = append([]pendingEvent(nil), g.events...)
	return c
}

// Names returns the block names, sorted.
func (g *Graph) Names() []string {
	out := make([]string, 0, len(g.blocks))
	for k := range g.blocks {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// BlockInfo is a read-only view of one block in a Graph.
type BlockInfo struct {
	Name, Type string
	Options    Options
	Up, Down   string            // ingress and egress neighbours
	Outputs    map[string]string // named output -> bound block ("" when free)
	Subs       []string          // subscribers, sorted
	// Failed is the panic message of the block's current instance, ""
	// while healthy (see BlockStats.Failed).
	Failed string
}

// Block describes the block called name.
func (g *Graph) Block(name string) (BlockInfo, error) {
	d, err := g.get(name)
	if err != nil {
		return BlockInfo{}, err
	}
	bi := BlockInfo{Name: d.name, Type: d.typ, Options: d.opts.Clone(), Up: d.up, Down: d.down, Outputs: map[string]string{},
		Failed: d.slot.health.failureOf(d.inst)}
	for _, o := range d.info.Outputs {
		bi.Outputs[o] = d.outs[o]
	}
	for s := range d.subs {
		bi.Subs = append(bi.Subs, s)
	}
	sort.Strings(bi.Subs)
	return bi, nil
}

// Instance returns the instance that serves block name in g.
func (g *Graph) Instance(name string) (Block, error) {
	d, err := g.get(name)
	if err != nil {
		return nil, err
	}
	return d.inst, nil
}

// Hooked returns the entry block's name ("" when none).
func (g *Graph) Hooked() string { return g.hook }

// own returns a description of d's block that g may write to: d itself when
// g owns it, else a copy that replaces d in g.
func (g *Graph) own(d *blockDesc) *blockDesc {
	if d.owner == g.id {
		return d
	}
	c := *d
	c.owner, c.outs, c.subs = g.id, maps.Clone(d.outs), maps.Clone(d.subs)
	g.blocks[d.name] = &c
	return &c
}

func (g *Graph) get(name string) (*blockDesc, error) {
	d, ok := g.blocks[name]
	if !ok {
		return nil, fmt.Errorf("block %q: %w", name, ErrNotFound)
	}
	return d, nil
}

func checkName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("name %q: must be 1 to %d characters: %w", name, MaxNameLen, ErrBadName)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Errorf("name %q: only letters, digits, '_', '-' and '.': %w", name, ErrBadName)
		}
	}
	return nil
}

// instantiate makes, configures and starts a block.
func (g *Graph) instantiate(name, typ string, opts Options) (Block, Info, error) {
	b, err := newBlock(typ)
	if err != nil {
		return nil, Info{}, err
	}
	if err := b.Configure(opts); err != nil {
		return nil, Info{}, fmt.Errorf("configure %s (%s): %w", name, typ, err)
	}
	info := b.Info()
	if len(info.Outputs) > MaxOutputs || len(info.Reasons) > MaxReasons {
		return nil, Info{}, fmt.Errorf("configure %s (%s): %d outputs, %d reasons: at most %d and %d: %w",
			name, typ, len(info.Outputs), len(info.Reasons), MaxOutputs, MaxReasons, ErrConfig)
	}
	if err := b.Start(Env{Name: name, Workers: g.workers}); err != nil {
		b.Close()
		return nil, Info{}, fmt.Errorf("start %s (%s): %w", name, typ, err)
	}
	g.created = append(g.created, b)
	return b, info, nil
}

// Add creates block name of type typ with opts.
func (g *Graph) Add(name, typ string, opts Options) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("add %s: %w", name, err)
	}
	if _, ok := g.blocks[name]; ok {
		return fmt.Errorf("add %s: %w", name, ErrExists)
	}
	if opts == nil {
		opts = Options{}
	}
	b, info, err := g.instantiate(name, typ, opts)
	if err != nil {
		return fmt.Errorf("add %s: %w", name, err)
	}
	*g.nextSlot++
	g.blocks[name] = &blockDesc{owner: g.id, name: name, typ: typ, opts: opts.Clone(), inst: b, info: info,
		slot: newSlot(*g.nextSlot, g.workers, info)}
	return nil
}

// Remove deletes an unbound, unhooked block.
func (g *Graph) Remove(name string) error {
	d, err := g.get(name)
	if err != nil {
		return fmt.Errorf("rm %s: %w", name, err)
	}
	if d.bound() {
		return fmt.Errorf("rm %s: unbind it first (up=%q down=%q outputs=%v): %w", name, d.up, d.down, d.outs, ErrBound)
	}
	if g.hook == name {
		return fmt.Errorf("rm %s: unhook it first: %w", name, ErrBound)
	}
	g.goingDown(d)
	delete(g.blocks, name)
	for _, o := range g.subscribersOf(name) {
		delete(g.own(o).subs, name)
	}
	g.retired = append(g.retired, d.inst)
	return nil
}

// splitPort splits "name:output".
func splitPort(s string) (name, out string) {
	name, out, _ = strings.Cut(s, ":")
	return name, out
}

// Bind binds a below b: ingress a -> b, egress b -> a. With a written as
// "a:out", b is bound to a's named output out instead of a's ingress port.
func (g *Graph) Bind(a, b string) error {
	an, out := splitPort(a)
	da, err := g.get(an)
	if err != nil {
		return fmt.Errorf("bind %s %s: %w", a, b, err)
	}
	db, err := g.get(b)
	if err != nil {
		return fmt.Errorf("bind %s %s: %w", a, b, err)
	}
	if an == b {
		return fmt.Errorf("bind %s %s: a block cannot bind to itself: %w", a, b, ErrCycle)
	}
	if out == "" {
		if da.up != "" {
			return fmt.Errorf("bind %s %s: %s's ingress port is taken by %s: %w", a, b, an, da.up, ErrPortTaken)
		}
	} else {
		if !contains(da.info.Outputs, out) {
			return fmt.Errorf("bind %s %s: %s (%s) has outputs %v: %w", a, b, an, da.typ, da.info.Outputs, ErrNoOutput)
		}
		if cur := da.outs[out]; cur != "" {
			return fmt.Errorf("bind %s %s: %s's output %s is taken by %s: %w", a, b, an, out, cur, ErrPortTaken)
		}
	}
	if db.down != "" {
		return fmt.Errorf("bind %s %s: %s's egress port is taken by %s: %w", a, b, b, db.down, ErrPortTaken)
	}
	if path := g.pathUp(b, an); path != nil {
		return fmt.Errorf("bind %s %s: %s already reaches %s (%s): %w", a, b, b, an, strings.Join(path, " -> "), ErrCycle)
	}
	da, db = g.own(da), g.own(db)
	if out == "" {
		da.up = b
	} else {
		da.setOut(out, b)
	}
	db.down = an
	// Binding subscribes the two blocks to each other's events (as in LANA).
	da.subscribe(b)
	db.subscribe(an)
	g.event(Event{Kind: EventBind, Block: an, Peer: b, Key: out}, an, b)
	return nil
}

// pathUp returns the ingress path from -> ... -> to, or nil when to is not
// reachable from from.
func (g *Graph) pathUp(from, to string) []string {
	seen := map[string]bool{}
	var walk func(n string) []string
	walk = func(n string) []string {
		if n == to {
			return []string{n}
		}
		if seen[n] {
			return nil
		}
		seen[n] = true
		d := g.blocks[n]
		next := make([]string, 0, 1+len(d.outs))
		if d.up != "" {
			next = append(next, d.up)
		}
		for _, o := range sortedKeys(d.outs) {
			next = append(next, d.outs[o])
		}
		for _, m := range next {
			if p := walk(m); p != nil {
				return append([]string{n}, p...)
			}
		}
		return nil
	}
	return walk(from)
}

// Unbind undoes Bind(a, b), including the mutual event subscription.
func (g *Graph) Unbind(a, b string) error {
	an, out := splitPort(a)
	da, err := g.get(an)
	if err != nil {
		return fmt.Errorf("unbind %s %s: %w", a, b, err)
	}
	db, err := g.get(b)
	if err != nil {
		return fmt.Errorf("unbind %s %s: %w", a, b, err)
	}
	switch {
	case out == "" && da.up == b && db.down == an:
		da, db = g.own(da), g.own(db)
		da.up = ""
	case out != "" && da.outs[out] == b && db.down == an:
		da, db = g.own(da), g.own(db)
		delete(da.outs, out)
	default:
		return fmt.Errorf("unbind %s %s: %s is not bound above %s: %w", a, b, b, a, ErrNotBound)
	}
	db.down = ""
	g.event(Event{Kind: EventUnbind, Block: an, Peer: b, Key: out}, an, b)
	// Undo the mutual subscription bind made.
	delete(da.subs, b)
	delete(db.subs, an)
	return nil
}

// Hook makes name the entry block: frames received on every queue start at
// its ingress.
func (g *Graph) Hook(name string) error {
	if _, err := g.get(name); err != nil {
		return fmt.Errorf("hook %s: %w", name, err)
	}
	if g.hook != "" && g.hook != name {
		return fmt.Errorf("hook %s: %s is hooked: %w", name, g.hook, ErrPortTaken)
	}
	g.hook = name
	return nil
}

// Unhook detaches the entry block; received frames are then dropped.
func (g *Graph) Unhook() error {
	g.hook = ""
	return nil
}

// Set changes options of a live block: a new instance is configured with
// the merged options and, when that succeeds, takes over the old one's state
// and place. An invalid value is refused and the old instance stays.
func (g *Graph) Set(name string, opts Options) error {
	d, err := g.get(name)
	if err != nil {
		return fmt.Errorf("set %s: %w", name, err)
	}
	merged := d.opts.Clone()
	for k, v := range opts {
		merged[k] = v
	}
	b, info, err := g.instantiate(name, d.typ, merged)
	if err != nil {
		return fmt.Errorf("set %s: %w", name, err)
	}
	if err := checkOutputs(d, info); err != nil {
		g.created = g.created[:len(g.created)-1]
		b.Close()
		return fmt.Errorf("set %s: %w", name, err)
	}
	g.moves = append(g.moves, stateMove{to: b, from: d.inst})
	g.retired = append(g.retired, d.inst)
	d = g.own(d)
	d.inst, d.info, d.opts = b, info, merged
	d.slot = d.slot.resized(info)
	for _, k := range sortedKeys(opts) {
		g.event(Event{Kind: EventOptionSet, Block: name, Key: k, Value: opts[k]}, name)
	}
	return nil
}

// checkOutputs verifies that a replacement has every output d has bound.
func checkOutputs(d *blockDesc, info Info) error {
	for _, o := range sortedKeys(d.outs) {
		if !contains(info.Outputs, o) {
			return fmt.Errorf("output %s bound to %s would vanish: %w", o, d.outs[o], ErrNoOutput)
		}
	}
	return nil
}

// Replace puts block nb in a's place: nb's instance takes a's name,
// bindings, subscribers and statistics, and nb's own name disappears. With
// keepState, both must have the same type and nb takes a's state
// (StateTaker); without, nb starts fresh (replace-drop).
func (g *Graph) Replace(a, nb string, keepState bool) error {
	verb := "replace"
	if !keepState {
		verb = "replace-drop"
	}
	da, err := g.get(a)
	if err != nil {
		return fmt.Errorf("%s %s %s: %w", verb, a, nb, err)
	}
	dn, err := g.get(nb)
	if err != nil {
		return fmt.Errorf("%s %s %s: %w", verb, a, nb, err)
	}
	if a == nb {
		return fmt.Errorf("%s %s %s: a block cannot replace itself: %w", verb, a, nb, ErrExists)
	}
	if dn.bound() || g.hook == nb {
		return fmt.Errorf("%s %s %s: %s must be unbound and unhooked: %w", verb, a, nb, nb, ErrBound)
	}
	if keepState && da.typ != dn.typ {
		return fmt.Errorf("%s %s %s: %s is %s, %s is %s; use replace-drop: %w", verb, a, nb, a, da.typ, nb, dn.typ, ErrTypeMismatch)
	}
	if err := checkOutputs(da, dn.info); err != nil {
		return fmt.Errorf("%s %s %s: %w", verb, a, nb, err)
	}
	if keepState {
		g.moves = append(g.moves, stateMove{to: dn.inst, from: da.inst})
	}
	g.goingDown(da)
	g.retired = append(g.retired, da.inst)
	da = g.own(da)
	da.inst, da.info, da.typ, da.opts = dn.inst, dn.info, dn.typ, dn.opts
	da.slot = da.slot.resized(dn.info)
	for k := range dn.subs {
		if k != a {
			da.subscribe(k)
		}
	}
	delete(g.blocks, nb)
	for _, o := range g.subscribersOf(nb) {
		o = g.own(o)
		delete(o.subs, nb)
		if o.name != a {
			o.subscribe(a)
		}
	}
	return nil
}

// Subscribe makes b receive a's events.
func (g *Graph) Subscribe(a, b string) error {
	da, err := g.get(a)
	if err != nil {
		return fmt.Errorf("subscribe %s %s: %w", a, b, err)
	}
	if _, err := g.get(b); err != nil {
		return fmt.Errorf("subscribe %s %s: %w", a, b, err)
	}
	if a == b {
		return fmt.Errorf("subscribe %s %s: a block hears its own events already: %w", a, b, ErrBadVerb)
	}
	g.own(da).subscribe(b)
	return nil
}

// Unsubscribe stops b receiving a's events.
func (g *Graph) Unsubscribe(a, b string) error {
	da, err := g.get(a)
	if err != nil {
		return fmt.Errorf("unsubscribe %s %s: %w", a, b, err)
	}
	if !da.subs[b] {
		return fmt.Errorf("unsubscribe %s %s: %s is not subscribed to %s: %w", a, b, b, a, ErrNotFound)
	}
	delete(g.own(da).subs, b)
	return nil
}

// subscribersOf returns the blocks subscribed to name's events.
func (g *Graph) subscribersOf(name string) []*blockDesc {
	var out []*blockDesc
	for _, o := range g.blocks {
		if o.subs[name] {
			out = append(out, o)
		}
	}
	return out
}

func (g *Graph) goingDown(d *blockDesc) {
	to := slices.DeleteFunc(sortedKeys(d.subs), func(s string) bool { return s == d.name })
	g.events = append(g.events, pendingEvent{ev: Event{Kind: EventGoingDown, Block: d.name}, to: to})
}

// event records ev for the named blocks and their subscribers.
func (g *Graph) event(ev Event, names ...string) {
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
		if d, ok := g.blocks[n]; ok {
			for s := range d.subs {
				set[s] = true
			}
		}
	}
	g.events = append(g.events, pendingEvent{ev: ev, to: sortedKeys(set)})
}

// sortedKeys returns m's keys in order, nil for an empty m. Unlike
// slices.Sorted(maps.Keys(m)) it allocates once, and never when m is empty:
// it runs in every transaction.
func sortedKeys[V any](m map[string]V) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Verb is one control-plane operation: Op is add, rm, set, bind, unbind,
// replace, replace-drop, subscribe, unsubscribe, hook or unhook.
type Verb struct {
	Op   string
	Args []string
}

// String renders v as a command line. Every word, the operation included,
// is quoted when it is empty or holds white space, quotes or backslashes,
// so that ParseVerb reads the line back as v.
func (v Verb) String() string {
	var b strings.Builder
	for i, a := range append([]string{v.Op}, v.Args...) {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && !strings.ContainsAny(a, " \t\n\r\"'\\") {
			b.WriteString(a)
			continue
		}
		b.WriteByte('"')
		for i := 0; i < len(a); i++ {
			if a[i] == '"' || a[i] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(a[i])
		}
		b.WriteByte('"')
	}
	return b.String()
}

// ParseVerbs parses each line with ParseVerb; the error names the first
// line that fails.
func ParseVerbs(lines ...string) ([]Verb, error) {
	verbs := make([]Verb, len(lines))
	for i, l := range lines {
		v, err := ParseVerb(l)
		if err != nil {
			return nil, err
		}
		verbs[i] = v
	}
	return verbs, nil
}

// ParseVerb parses a line such as "add e0 eth promisc=true" or "bind e0:ipv4 ip".
// Words split at white space, except inside single or double quotes, which
// group and are removed as a shell does: set f "filter=udp dst port 9" and
// set f filter='udp dst port 9' both give the word filter=udp dst port 9. In
// double quotes a backslash escapes the next character. Verb.String quotes
// words so that ParseVerb reads them back unchanged.
func ParseVerb(line string) (Verb, error) {
	f, err := splitWords(line)
	if err != nil {
		return Verb{}, fmt.Errorf("verb %q: %v: %w", line, err, ErrBadVerb)
	}
	if len(f) == 0 {
		return Verb{}, fmt.Errorf("verb %q: empty: %w", line, ErrBadVerb)
	}
	if f[0] == "" {
		// An empty quoted word ("") cannot be an operation, and String
		// would not read back.
		return Verb{}, fmt.Errorf("verb %q: empty operation: %w", line, ErrBadVerb)
	}
	return Verb{Op: f[0], Args: f[1:]}, nil
}

// splitWords splits line into words the way ParseVerb documents.
func splitWords(line string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated ' at byte %d", i)
			}
			w.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' && j+1 < len(line) {
					j++
				}
				w.WriteByte(line[j])
			}
			if j >= len(line) {
				return nil, fmt.Errorf("unterminated \" at byte %d", i)
			}
			i = j
			inWord = true
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// verbArgs is each operation's argument count: n exactly, or at least -n
// when negative (the rest are options).
var verbArgs = map[string]int{"add": -2, "rm": 1, "set": -2, "bind": 2, "unbind": 2, "replace": 2,
	"replace-drop": 2, "subscribe": 2, "unsubscribe": 2, "hook": 1, "unhook": 0}

// Apply applies one verb. Ops are matched exactly (never by prefix).
func (g *Graph) Apply(v Verb) error {
	n, ok := verbArgs[v.Op]
	if !ok {
		return fmt.Errorf("verb %q: unknown operation (add, rm, set, bind, unbind, replace, replace-drop, subscribe, unsubscribe, hook, unhook): %w", v.String(), ErrBadVerb)
	}
	if n >= 0 && len(v.Args) != n || n < 0 && len(v.Args) < -n {
		return fmt.Errorf("verb %q: %s takes %s arguments: %w", v.String(), v.Op, argCount(n), ErrBadVerb)
	}
	a := v.Args
	switch v.Op {
	case "add":
		opts, err := ParseOptions(a[2:])
		if err != nil {
			return fmt.Errorf("add %s: %w", a[0], err)
		}
		return g.Add(a[0], a[1], opts)
	case "rm":
		return g.Remove(a[0])
	case "set":
		opts, err := ParseOptions(a[1:])
		if err != nil {
			return fmt.Errorf("set %s: %w", a[0], err)
		}
		return g.Set(a[0], opts)
	case "bind":
		return g.Bind(a[0], a[1])
	case "unbind":
		return g.Unbind(a[0], a[1])
	case "replace":
		return g.Replace(a[0], a[1], true)
	case "replace-drop":
		return g.Replace(a[0], a[1], false)
	case "subscribe":
		return g.Subscribe(a[0], a[1])
	case "unsubscribe":
		return g.Unsubscribe(a[0], a[1])
	case "hook":
		return g.Hook(a[0])
	default:
		return g.Unhook()
	}
}

func argCount(n int) string {
	if n < 0 {
		return fmt.Sprintf("at least %d", -n)
	}
	return fmt.Sprint(n)
}

// applyAll applies verbs to a copy of g and returns the copy, or the first
// error (g is untouched either way). Instances created by a failed
// transaction are closed.
func (g *Graph) applyAll(verbs []Verb) (*Graph, error) {
	c := g.clone()
	base := len(c.created)
	for i, v := range verbs {
		err := c.Apply(v)
		if err == nil && i == len(verbs)-1 && len(c.blocks) > MaxBlocks && len(c.blocks) > len(g.blocks) {
			err = fmt.Errorf("%d blocks: at most %d per engine (engine.MaxBlocks): %w", len(c.blocks), MaxBlocks, ErrConfig)
		}
		if err != nil {
			var errs []error
			for _, b := range c.created[base:] {
				if e := b.Close(); e != nil {
					errs = append(errs, e)
				}
			}
			return nil, errors.Join(append([]error{fmt.Errorf("verb %d: %w", i+1, err)}, errs...)...)
		}
	}
	return c, nil
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}
