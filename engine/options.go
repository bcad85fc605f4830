package engine

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
)

// Options are a block's key=value settings as given by the control plane.
type Options map[string]string

// Clone returns a copy of o.
func (o Options) Clone() Options {
	c := make(Options, len(o))
	for k, v := range o {
		c[k] = v
	}
	return c
}

// ParseOptions splits "k=v" words into Options; a word without '=' is an error.
func ParseOptions(words []string) (Options, error) {
	o := Options{}
	var errs []error
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			errs = append(errs, fmt.Errorf("option %q: must be key=value: %w", w, ErrBadOption))
			continue
		}
		o[k] = v
	}
	return o, errors.Join(errs...)
}

// OptionParser reads typed values out of Options and collects every error,
// so Configure can report all problems at once. Typical use:
//
//	p := engine.NewOptionParser(opts)
//	b.promisc = p.Bool("promisc", false)
//	return p.Err()
type OptionParser struct {
	opts Options
	used map[string]bool
	errs []error
}

// NewOptionParser starts parsing opts.
func NewOptionParser(opts Options) *OptionParser {
	return &OptionParser{opts: opts, used: map[string]bool{}}
}

func (p *OptionParser) get(key string) (string, bool) {
	p.used[key] = true
	v, ok := p.opts[key]
	return v, ok
}

// Fail records an error for key.
func (p *OptionParser) Fail(key, value, rule string) {
	p.errs = append(p.errs, fmt.Errorf("option %s=%q: %s: %w", key, value, rule, ErrBadOption))
}

// String returns the value of key or def.
func (p *OptionParser) String(key, def string) string {
	if v, ok := p.get(key); ok {
		return v
	}
	return def
}

// Bool returns the boolean value of key or def.
func (p *OptionParser) Bool(key string, def bool) bool {
	v, ok := p.get(key)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.Fail(key, v, "must be true or false")
		return def
	}
	return b
}

// Uint returns the unsigned value of key (decimal or 0x hex) in [lo, hi], or def.
func (p *OptionParser) Uint(key string, def, lo, hi uint64) uint64 {
	v, ok := p.get(key)
	if !ok {
		return def
	}
	n, err := strconv.ParseUint(v, 0, 64)
	if err != nil || n < lo || n > hi {
		p.Fail(key, v, fmt.Sprintf("must be an integer in [%d, %d]", lo, hi))
		return def
	}
	return n
}

// MAC returns the Ethernet address value of key, or nil when absent.
func (p *OptionParser) MAC(key string) net.HardwareAddr {
	v, ok := p.get(key)
	if !ok {
		return nil
	}
	m, err := net.ParseMAC(v)
	if err != nil || len(m) != 6 {
		p.Fail(key, v, "must be a 6-byte MAC address like 02:00:00:00:00:01")
		return nil
	}
	return m
}

// Prefix returns every option whose key starts with prefix (the prefix cut
// off), sorted by key, and marks them used.
func (p *OptionParser) Prefix(prefix string) [][2]string {
	var out [][2]string
	for k, v := range p.opts {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			p.used[k] = true
			out = append(out, [2]string{rest, v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// Err returns every error seen, plus one per unknown key, or nil.
func (p *OptionParser) Err() error {
	var unknown []string
	for k := range p.opts {
		if !p.used[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	errs := p.errs
	for _, k := range unknown {
		errs = append(errs, fmt.Errorf("option %s: unknown key: %w", k, ErrBadOption))
	}
	return errors.Join(errs...)
}
