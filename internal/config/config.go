package config

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/xsk"
)

// ErrInvalid is wrapped by every error about a file's content.
var ErrInvalid = errors.New("invalid configuration")

// Poll modes as written in the file.
const (
	PollBusy     = "busy"
	PollWakeup   = "wakeup"
	PollAdaptive = "adaptive"
)

// File is one lanad configuration file.
type File struct {
	// Interfaces are the NICs lanad serves; at least one.
	Interfaces []Interface `yaml:"interfaces"`
	// Poll is busy, wakeup or adaptive (default adaptive) for every worker.
	Poll string `yaml:"poll,omitempty"`
	// VectorSize is the engine's vector size (default 64).
	VectorSize int `yaml:"vector_size,omitempty"`
	// Frames is the number of UMEM frames per queue (default 4096).
	Frames uint32 `yaml:"frames,omitempty"`
	// FrameSize is the size of a UMEM frame in bytes, 2048 or 4096
	// (default 4096). 2048 halves the memory and the pages that frames in
	// rotation span; frames then carry at most 1,792 bytes (2048 minus the
	// kernel's 256 bytes of headroom), so no jumbo frames.
	FrameSize uint32 `yaml:"frame_size,omitempty"`
	// FillTarget is how many of a queue's frames its worker leaves in the
	// kernel's hands to receive into (default engine.DefaultFillTarget,
	// at most frames); the worker doubles it when a burst nearly drains
	// them and halves it again once bursts stop
	// (engine.WorkerConfig.FillTarget).
	FillTarget uint32 `yaml:"fill_target,omitempty"`
	// Control configures the control API.
	Control Control `yaml:"control,omitempty"`
	// Stack is the initial protocol stack.
	Stack Stack `yaml:"stack"`
	// Bench holds benchmarking aids (lanabench lab); leave it out otherwise.
	Bench *Bench `yaml:"bench,omitempty"`
}

// Bench holds benchmarking aids.
type Bench struct {
	// PaceDir, an absolute directory on bpffs (default none), makes lanad
	// publish each worker's running total of frames taken, once per
	// vector, into a one-slot BPF_F_MMAPABLE array pinned at
	// PaceDir/pace<worker> (package internal/pace), for a traffic
	// generator pacing on it. lanad mounts bpffs at /sys/fs/bpf when the
	// directory lies under it and nothing is mounted there, creates the
	// directory if missing, and removes the pins (and the directory it
	// created) when it exits. With it set, the queue stats also carry each
	// worker's thread id.
	PaceDir string `yaml:"pace_dir,omitempty"`
}

// Interface is one NIC and how lanad serves it.
type Interface struct {
	// Name is the interface name in lanad's network namespace.
	Name string `yaml:"name"`
	// Queues are the RX queues served: "all" (default) or a list.
	Queues Queues `yaml:"queues,omitempty"`
	// CPUs pins queue i's worker to CPUs[i % len(CPUs)]; empty: unpinned.
	CPUs []int `yaml:"cpus,omitempty"`
	// Steering is which frames the XDP program hands to LANA: "lana"
	// (default, ethertypes 0xAC00-0xAFFF), "all", or a comma-separated
	// list of ethertypes and ranges ("0x0800, 0x88B5-0x88B6").
	Steering string `yaml:"steering,omitempty"`
	// XSKMode is auto (default), copy or zero-copy.
	XSKMode string `yaml:"xsk_mode,omitempty"`
}

// Control configures the control API and metrics.
type Control struct {
	// Socket is the Unix socket path (default api.DefaultSocket);
	// lanad --socket overrides it.
	Socket string `yaml:"socket,omitempty"`
	// Group, besides root, may use the API; the socket is chowned to it.
	Group string `yaml:"group,omitempty"`
	// Metrics is a TCP listen address for Prometheus metrics; empty: off.
	Metrics string `yaml:"metrics,omitempty"`
	// CPUs are the cpus of the control plane: every thread but the
	// workers (the API, graph compilation, the garbage collector, the Go
	// runtime's own threads). Empty: every cpu lanad may use except the
	// workers' cpus, or all of them when the workers cover every cpu. A
	// worker's cpu may be listed: on a machine where the other cpus belong
	// to something else (a traffic generator, another service), the
	// control plane then shares the worker's cpu instead of preempting it.
	CPUs []int `yaml:"cpus,omitempty"`
}

// Queues is "all" or an explicit list of RX queue indexes.
type Queues struct {
	All  bool
	List []int
}

// UnmarshalYAML reads "all" or a list of queue indexes.
func (q *Queues) UnmarshalYAML(node ast.Node) error {
	switch n := node.(type) {
	case *ast.StringNode:
		if n.Value != "all" {
			return fmt.Errorf("queues %q: must be \"all\" or a list of queue indexes", n.Value)
		}
		*q = Queues{All: true}
		return nil
	case *ast.SequenceNode:
		var l []int
		if err := yaml.NodeToValue(n, &l); err != nil {
			return err
		}
		*q = Queues{List: l}
		return nil
	}
	return fmt.Errorf("queues: must be \"all\" or a list of queue indexes")
}

// MarshalYAML writes "all" or the list.
func (q Queues) MarshalYAML() (any, error) {
	if q.All || q.List == nil {
		return "all", nil
	}
	return q.List, nil
}

// Stack is a protocol stack: blocks, bindings, subscriptions and the entry
// block.
type Stack struct {
	// Blocks are added in order.
	Blocks []Block `yaml:"blocks"`
	// Bindings are applied in order after every block exists.
	Bindings []Binding `yaml:"bindings,omitempty"`
	// Subscriptions beyond those every binding makes by itself.
	Subscriptions []Subscription `yaml:"subscriptions,omitempty"`
	// Hook is the block received frames enter at; empty drops them.
	Hook string `yaml:"hook,omitempty"`
}

// Block is one block instance.
type Block struct {
	Name    string  `yaml:"name"`
	Type    string  `yaml:"type"`
	Options Options `yaml:"options,omitempty"`
}

// Binding is "bind Below Above"; Below may be "block:output".
type Binding struct {
	Below string `yaml:"below"`
	Above string `yaml:"above"`
}

// Subscription makes Subscriber receive Block's events.
type Subscription struct {
	Block      string `yaml:"block"`
	Subscriber string `yaml:"subscriber"`
}

// Options are a block's options; values keep their literal text.
type Options map[string]string

// UnmarshalYAML reads a mapping of scalars, keeping each value's text.
func (o *Options) UnmarshalYAML(node ast.Node) error {
	m, ok := node.(*ast.MappingNode)
	if !ok {
		if _, null := node.(*ast.NullNode); null {
			*o = nil
			return nil
		}
		return fmt.Errorf("options: must be a mapping of key: value")
	}
	out := Options{}
	for _, kv := range m.Values {
		k, err := scalar(kv.Key)
		if err != nil {
			return fmt.Errorf("option key: %w", err)
		}
		v, err := scalar(kv.Value)
		if err != nil {
			return fmt.Errorf("option %s: %w", k, err)
		}
		if strings.ContainsAny(k, "= \t\n") || k == "" {
			return fmt.Errorf("option %q: keys are non-empty words without '='", k)
		}
		if strings.ContainsAny(v, " \t\n") {
			return fmt.Errorf("option %s=%q: values contain no white space", k, v)
		}
		out[k] = v
	}
	*o = out
	return nil
}

func scalar(n ast.Node) (string, error) {
	switch n := n.(type) {
	case *ast.StringNode:
		return n.Value, nil
	case *ast.MappingNode, *ast.SequenceNode, *ast.MappingValueNode:
		return "", errors.New("must be a scalar")
	case *ast.NullNode:
		return "", nil
	}
	if t := n.GetToken(); t != nil {
		return t.Value, nil
	}
	return "", errors.New("must be a scalar")
}

// Parse reads a configuration from data, checks it (including the stack,
// against the registered block types) and fills in defaults. Errors carry
// "line N" and state the rule broken; they wrap ErrInvalid.
func Parse(data []byte) (_ *File, err error) {
	// The YAML library panics on some malformed input (a tag on a
	// sequence field, found by FuzzParse); lanad parses on SIGHUP, where
	// a panic would kill it, so a panic is a refusal like any other.
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("yaml library failed on this input (%v): %w", v, ErrInvalid)
		}
	}()
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", yaml.FormatError(err, false, false), ErrInvalid)
	}
	var f File
	if len(file.Docs) != 1 || file.Docs[0].Body == nil {
		return nil, fmt.Errorf("want exactly one YAML document: %w", ErrInvalid)
	}
	if err := yaml.NodeToValue(file.Docs[0].Body, &f, yaml.DisallowUnknownField()); err != nil {
		return nil, fmt.Errorf("%s: %w", yaml.FormatError(err, false, false), ErrInvalid)
	}
	var errs []error
	for _, pe := range f.check() {
		errs = append(errs, fmt.Errorf("line %d: %s: %w", line(file, pe.path), pe.msg, ErrInvalid))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	f.defaults()
	return &f, nil
}

// Load reads and parses the file at path; errors start with "path:".
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	f, err := Parse(data)
	if err != nil {
		return nil, prefixLines(path, err)
	}
	return f, nil
}

// prefixLines puts "path:" in front of every joined error.
func prefixLines(path string, err error) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = fmt.Errorf("%s: %w", path, e)
	}
	return errors.Join(out...)
}

// line finds the line of path in file, or 0.
func line(file *ast.File, path string) int {
	for p := path; p != ""; {
		yp, err := yaml.PathString(p)
		if err == nil {
			if n, err := yp.FilterFile(file); err == nil && n != nil && n.GetToken() != nil {
				return n.GetToken().Position.Line
			}
		}
		i := strings.LastIndexAny(p, ".[")
		if i <= 1 {
			break
		}
		p = p[:i]
	}
	return 0
}

type pathErr struct{ path, msg string }

// check returns every rule f breaks, each located by a YAML path.
func (f *File) check() []pathErr {
	var errs []pathErr
	fail := func(path, format string, a ...any) {
		errs = append(errs, pathErr{path, fmt.Sprintf(format, a...)})
	}
	if len(f.Interfaces) == 0 {
		fail("$", "interfaces: at least one interface is needed")
	}
	seen := map[string]bool{}
	for i, ifc := range f.Interfaces {
		p := fmt.Sprintf("$.interfaces[%d]", i)
		if ifc.Name == "" {
			fail(p, "interface %d: name is required", i)
		} else if seen[ifc.Name] {
			fail(p+".name", "interface %s: listed twice", ifc.Name)
		}
		seen[ifc.Name] = true
		qs := map[int]bool{}
		for j, q := range ifc.Queues.List {
			if q < 0 || q >= xsk.DefaultProgramQueues {
				fail(fmt.Sprintf("%s.queues[%d]", p, j), "queue %d: must be in [0, %d)", q, xsk.DefaultProgramQueues)
			}
			if qs[q] {
				fail(fmt.Sprintf("%s.queues[%d]", p, j), "queue %d: listed twice", q)
			}
			qs[q] = true
		}
		if ifc.Queues.List != nil && len(ifc.Queues.List) == 0 {
			fail(p+".queues", "queues: an empty list serves nothing; write \"all\" or indexes")
		}
		for j, c := range ifc.CPUs {
			if c < 0 || c >= 4096 {
				fail(fmt.Sprintf("%s.cpus[%d]", p, j), "cpu %d: must be in [0, 4096)", c)
			}
		}
		if _, err := ParseSteering(ifc.Steering); err != nil {
			fail(p+".steering", "%v", err)
		}
		switch ifc.XSKMode {
		case "", "auto", "copy", "zero-copy":
		default:
			fail(p+".xsk_mode", "xsk_mode %q: must be auto, copy or zero-copy", ifc.XSKMode)
		}
	}
	ctl := map[int]bool{}
	for j, c := range f.Control.CPUs {
		if c < 0 || c >= 4096 {
			fail(fmt.Sprintf("$.control.cpus[%d]", j), "cpu %d: must be in [0, 4096)", c)
		} else if ctl[c] {
			fail(fmt.Sprintf("$.control.cpus[%d]", j), "cpu %d: listed twice", c)
		}
		ctl[c] = true
	}
	switch f.Poll {
	case "", PollBusy, PollWakeup, PollAdaptive:
	default:
		fail("$.poll", "poll %q: must be busy, wakeup or adaptive", f.Poll)
	}
	if f.VectorSize < 0 || f.VectorSize > engine.MaxVectorSize {
		fail("$.vector_size", "vector_size %d: must be in [1, %d]", f.VectorSize, engine.MaxVectorSize)
	}
	if f.Bench != nil && f.Bench.PaceDir != "" && !strings.HasPrefix(f.Bench.PaceDir, "/") {
		fail("$.bench.pace_dir", "pace_dir %q: must be an absolute path", f.Bench.PaceDir)
	}
	if f.Frames != 0 && (f.Frames < 64 || f.Frames > xsk.MaxFrameCount) {
		fail("$.frames", "frames %d: must be in [64, %d]", f.Frames, xsk.MaxFrameCount)
	}
	if f.FrameSize != 0 && f.FrameSize != 2048 && f.FrameSize != 4096 {
		fail("$.frame_size", "frame_size %d: must be 2048 or 4096", f.FrameSize)
	}
	if frames := cmp.Or(f.Frames, xsk.DefaultFrameCount); f.FillTarget != 0 && (f.FillTarget < 64 || f.FillTarget > frames) {
		fail("$.fill_target", "fill_target %d: must be in [64, frames (%d)]", f.FillTarget, frames)
	}
	return append(errs, f.Stack.check()...)
}

// check applies the stack's verbs to a scratch graph one at a time, so that
// each engine error points at its own entry.
func (s Stack) check() []pathErr {
	var errs []pathErr
	g := engine.NewGraph(1)
	failed := map[string]bool{} // blocks whose add failed: later verbs naming them say nothing new
	for i, vp := range s.verbs() {
		if i >= len(s.Blocks) && mentions(vp.v, failed) {
			continue
		}
		if err := g.Apply(vp.v); err != nil {
			errs = append(errs, pathErr{vp.path, err.Error()})
			if i < len(s.Blocks) {
				failed[s.Blocks[i].Name] = true
			}
		}
	}
	return errs
}

func mentions(v engine.Verb, names map[string]bool) bool {
	for _, a := range v.Args {
		if n, _ := cutPort(a); names[n] {
			return true
		}
	}
	return false
}

type verbAt struct {
	v    engine.Verb
	path string
}

// verbs returns the stack as engine verbs with each one's YAML path.
func (s Stack) verbs() []verbAt {
	var out []verbAt
	for i, b := range s.Blocks {
		out = append(out, verbAt{AddVerb(b.Name, b.Type, b.Options), fmt.Sprintf("$.stack.blocks[%d]", i)})
	}
	for i, b := range s.Bindings {
		out = append(out, verbAt{engine.Verb{Op: "bind", Args: []string{b.Below, b.Above}}, fmt.Sprintf("$.stack.bindings[%d]", i)})
	}
	for i, sub := range s.Subscriptions {
		out = append(out, verbAt{engine.Verb{Op: "subscribe", Args: []string{sub.Block, sub.Subscriber}}, fmt.Sprintf("$.stack.subscriptions[%d]", i)})
	}
	if s.Hook != "" {
		out = append(out, verbAt{engine.Verb{Op: "hook", Args: []string{s.Hook}}, "$.stack.hook"})
	}
	return out
}

// Verbs returns the engine verbs that build s on an empty graph.
func (s Stack) Verbs() []engine.Verb {
	vs := s.verbs()
	out := make([]engine.Verb, len(vs))
	for i, v := range vs {
		out[i] = v.v
	}
	return out
}

// AddVerb builds "add name typ k=v..." with the options sorted.
func AddVerb(name, typ string, opts map[string]string) engine.Verb {
	return engine.Verb{Op: "add", Args: append([]string{name, typ}, optionWords(opts)...)}
}

// SetVerb builds "set name k=v..." with the options sorted.
func SetVerb(name string, opts map[string]string) engine.Verb {
	return engine.Verb{Op: "set", Args: append([]string{name}, optionWords(opts)...)}
}

func optionWords(opts map[string]string) []string {
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	w := make([]string, len(keys))
	for i, k := range keys {
		w[i] = k + "=" + opts[k]
	}
	return w
}

func (f *File) defaults() {
	for i := range f.Interfaces {
		ifc := &f.Interfaces[i]
		if ifc.Queues.List == nil {
			ifc.Queues.All = true
		}
		if ifc.Steering == "" {
			ifc.Steering = "lana"
		}
		if ifc.XSKMode == "" {
			ifc.XSKMode = "auto"
		}
	}
	if f.Poll == "" {
		f.Poll = PollAdaptive
	}
	if f.VectorSize == 0 {
		f.VectorSize = engine.DefaultVectorSize
	}
	if f.Frames == 0 {
		f.Frames = xsk.DefaultFrameCount
	}
}

// ParseSteering reads "lana" (or ""), "all" or a comma-separated list of
// ethertypes and ranges in hex ("0x0800, 0xAC00-0xAFFF").
func ParseSteering(s string) (xsk.Steering, error) {
	switch strings.TrimSpace(s) {
	case "", "lana":
		return xsk.DefaultSteering(), nil
	case "all":
		return xsk.Steering{All: true}, nil
	}
	st := xsk.Steering{EtherTypes: []xsk.EtherTypeRange{}}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		first, err1 := parseEtherType(lo)
		last, err2 := first, error(nil)
		if isRange {
			last, err2 = parseEtherType(hi)
		}
		if err := errors.Join(err1, err2); err != nil {
			return xsk.Steering{}, fmt.Errorf("steering %q: %w", s, err)
		}
		if last < first {
			return xsk.Steering{}, fmt.Errorf("steering %q: range %s runs backwards", s, part)
		}
		st.EtherTypes = append(st.EtherTypes, xsk.EtherTypeRange{First: first, Last: last})
	}
	if err := st.Validate(); err != nil {
		return xsk.Steering{}, fmt.Errorf("steering %q: %w", s, err)
	}
	return st, nil
}

func parseEtherType(s string) (uint16, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "0x") && !strings.HasPrefix(s, "0X") {
		return 0, fmt.Errorf("ethertype %q: must be hex with 0x, or \"lana\" or \"all\"", s)
	}
	v, err := strconv.ParseUint(s[2:], 16, 16)
	if err != nil {
		return 0, fmt.Errorf("ethertype %q: must be 16-bit hex", s)
	}
	return uint16(v), nil
}

// PollMode converts a checked poll name to the engine's mode.
func PollMode(s string) engine.PollMode {
	switch s {
	case PollBusy:
		return engine.PollBusy
	case PollWakeup:
		return engine.PollWakeup
	}
	return engine.PollAdaptive
}

// XSKMode converts a checked xsk_mode to the xsk package's mode.
func XSKMode(s string) xsk.Mode {
	switch s {
	case "copy":
		return xsk.ModeCopy
	case "zero-copy":
		return xsk.ModeZeroCopy
	}
	return xsk.ModeAuto
}

// Marshal renders f as a configuration file that Parse reads back to an
// equal File.
func Marshal(f *File) ([]byte, error) {
	out, err := yaml.MarshalWithOptions(f, yaml.Indent(2), yaml.IndentSequence(true))
	if err != nil {
		return nil, fmt.Errorf("marshal config: %w", err)
	}
	return append([]byte("# Written by lanad (save): the running stack.\n"), out...), nil
}

// SameHost reports why a and b differ in their host half (everything but
// the stack), or nil when they do not: a reload may change only the stack.
func SameHost(a, b *File) error {
	ca, cb := *a, *b
	ca.Stack, cb.Stack = Stack{}, Stack{}
	ya, err1 := yaml.Marshal(ca)
	yb, err2 := yaml.Marshal(cb)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if string(ya) != string(yb) {
		return fmt.Errorf("interfaces, queues, cpus, poll, steering, frames or control changed: restart lanad to apply them: %w", ErrInvalid)
	}
	return nil
}
