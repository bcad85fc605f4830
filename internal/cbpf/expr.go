package cbpf

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
)

// CompileExpr compiles a pcap-filter expression (as tcpdump takes it, for
// Ethernet frames) into a raw classic BPF program that returns AcceptLen for
// a match and 0 otherwise. Its matches equal libpcap's for the subset below;
// the instruction sequence differs (libpcap also optimises).
//
// Supported primitives:
//
//	ether proto N | ether host|src|dst MAC | ip | ip6 | arp | rarp
//	tcp | udp | icmp | icmp6 | sctp | [ip|ip6] proto N|NAME
//	[ip|ip6|arp|rarp] [src|dst|src or dst|src and dst] host ADDR
//	[ip|ip6|arp|rarp] [src|dst|...] net ADDR/LEN | net ADDR mask MASK
//	[tcp|udp|sctp] [src|dst|...] port N | portrange N-M
//	vlan [ID] | len (<|<=|>|>=|=|!=) N | greater N | less N
//
// combined with not/!, and/&&, or/|| (and and or have equal precedence and
// group left to right, as in pcap-filter) and parentheses. A bare value
// after and/or takes the previous primitive's qualifiers ("port 53 or 80").
// As in libpcap, every vlan keyword moves the offsets of the primitives
// after it (in text order) 4 bytes further. Service names, host names,
// byte-index expressions (ip[6], tcp[tcpflags]) and link types other than
// Ethernet are not supported (ErrUnsupported).
func CompileExpr(expr string) ([]bpf.RawInstruction, error) {
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("%w: empty expression", ErrSyntax)
	}
	p := &parser{toks: toks}
	root, err := p.expr()
	if err != nil {
		return nil, err
	}
	if !p.done() {
		return nil, p.errf(ErrSyntax, "unexpected %q", p.peek())
	}
	return program(root)
}

func lex(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			toks = append(toks, s[i:i+1])
			i++
		case strings.HasPrefix(s[i:], "&&") || strings.HasPrefix(s[i:], "||") ||
			strings.HasPrefix(s[i:], ">=") || strings.HasPrefix(s[i:], "<=") ||
			strings.HasPrefix(s[i:], "==") || strings.HasPrefix(s[i:], "!="):
			toks = append(toks, s[i:i+2])
			i += 2
		case c == '!' || c == '<' || c == '>' || c == '=':
			toks = append(toks, s[i:i+1])
			i++
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			toks = append(toks, strings.ToLower(s[i:j]))
			i = j
		default:
			return nil, fmt.Errorf("%w: unexpected character %q at offset %d", ErrSyntax, c, i)
		}
	}
	return toks, nil
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == ':' || c == '/' || c == '-' || c == '_'
}

// quals are a primitive's qualifiers, kept for bare values that follow.
type quals struct {
	proto, dir, kind string
}

type parser struct {
	toks []string
	pos  int
	off  uint32 // link-layer shift added by vlan keywords seen so far
	last *quals
}

func (p *parser) done() bool { return p.pos >= len(p.toks) }

func (p *parser) peek() string {
	if p.done() {
		return ""
	}
	return p.toks[p.pos]
}

func (p *parser) peekAt(n int) string {
	if p.pos+n >= len(p.toks) {
		return ""
	}
	return p.toks[p.pos+n]
}

func (p *parser) next() string {
	t := p.peek()
	p.pos++
	return t
}

func (p *parser) errf(err error, format string, args ...any) error {
	return fmt.Errorf("%w: token %d: "+format, append([]any{err, p.pos + 1}, args...)...)
}

// expr: unary { (and|or) unary }, left to right with equal precedence.
func (p *parser) expr() (node, error) {
	n, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		switch p.peek() {
		case "and", "&&":
			p.next()
			r, err := p.unary()
			if err != nil {
				return nil, err
			}
			n = andNode{n, r}
		case "or", "||":
			p.next()
			r, err := p.unary()
			if err != nil {
				return nil, err
			}
			n = orNode{n, r}
		default:
			return n, nil
		}
	}
}

func (p *parser) unary() (node, error) {
	switch p.peek() {
	case "not", "!":
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	case "(":
		p.next()
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.next() != ")" {
			return nil, p.errf(ErrSyntax, "missing )")
		}
		return x, nil
	case "":
		return nil, p.errf(ErrSyntax, "expression ends where a primitive is expected")
	}
	return p.primitive()
}

var protoNumbers = map[string]uint32{"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51, "icmp6": 58, "sctp": 132}

func (p *parser) number(what string, bits int) (uint32, error) {
	w := p.next()
	n, err := strconv.ParseUint(w, 0, bits)
	if err != nil {
		if w == "" {
			return 0, p.errf(ErrSyntax, "%s: missing number", what)
		}
		return 0, p.errf(ErrSyntax, "%s %q: must be a number below 2^%d (names are not supported)", what, w, bits)
	}
	return uint32(n), nil
}

func (p *parser) primitive() (node, error) {
	o := p.off
	switch t := p.peek(); t {
	case "vlan":
		p.next()
		n := or(etherType(o, 0x8100), etherType(o, 0x88a8), etherType(o, 0x9100))
		if isNumber(p.peek()) {
			id, err := p.number("vlan id", 12)
			if err != nil {
				return nil, err
			}
			n = and(n, leaf{loads: []bpf.RawInstruction{ldh(14 + o), {Op: classALU | aluAnd, K: 0xfff}}, jop: opJeqK, k: id})
		}
		p.off += 4
		return n, nil
	case "len":
		p.next()
		cmp := p.next()
		v, err := p.number("len", 32)
		if err != nil {
			return nil, err
		}
		return lenTest(cmp, v, p)
	case "greater", "less":
		p.next()
		v, err := p.number(t, 32)
		if err != nil {
			return nil, err
		}
		if t == "greater" {
			return lenTest(">=", v, p)
		}
		return lenTest("<=", v, p)
	case "ether":
		p.next()
		switch q := p.next(); q {
		case "proto":
			v, err := p.number("ether proto", 16)
			if err != nil {
				return nil, err
			}
			return etherType(o, v), nil
		case "host", "src", "dst":
			dir := q
			if q == "host" {
				dir = ""
			} else if p.peek() == "host" {
				p.next()
			}
			return p.etherHost(dir)
		default:
			return nil, p.errf(ErrUnsupported, "ether %q (want proto, host, src or dst)", q)
		}
	}
	var q quals
	switch t := p.peek(); t {
	case "ip", "ip6", "arp", "rarp", "tcp", "udp", "sctp", "icmp", "icmp6":
		q.proto = p.next()
	}
	if p.peek() == "proto" {
		p.next()
		return p.protoPrimitive(q.proto)
	}
	if d := p.peek(); d == "src" || d == "dst" {
		q.dir = p.next()
		if c := p.peek(); (c == "or" || c == "and") && (p.peekAt(1) == "src" || p.peekAt(1) == "dst") && p.peekAt(1) != q.dir {
			q.dir = "src " + c + " dst"
			p.pos += 2
		}
	}
	switch k := p.peek(); k {
	case "host", "net", "port", "portrange":
		q.kind = p.next()
	}
	if q.kind == "" && q.dir == "" {
		if q.proto != "" {
			return protoOnly(q.proto, o), nil
		}
		// A bare value: inherit the previous primitive's qualifiers.
		if p.last == nil {
			return nil, p.errf(ErrUnsupported, "%q: not a known primitive", p.peek())
		}
		q = *p.last
	}
	if q.kind == "" {
		q.kind = "host"
	}
	p.last = &q
	switch q.kind {
	case "host", "net":
		return p.hostNet(q, o)
	default:
		return p.port(q, o)
	}
}

func isNumber(w string) bool {
	_, err := strconv.ParseUint(w, 0, 32)
	return err == nil
}

func ldh(k uint32) bpf.RawInstruction { return bpf.RawInstruction{Op: opLdH, K: k} }
func ldb(k uint32) bpf.RawInstruction { return bpf.RawInstruction{Op: opLdB, K: k} }
func ldw(k uint32) bpf.RawInstruction { return bpf.RawInstruction{Op: opLdW, K: k} }

func etherType(o, v uint32) node {
	return leaf{loads: []bpf.RawInstruction{ldh(12 + o)}, jop: opJeqK, k: v}
}

func lenTest(cmp string, v uint32, p *parser) (node, error) {
	l := func(jop uint16) leaf {
		return leaf{loads: []bpf.RawInstruction{{Op: opLdLen}}, jop: jop, k: v}
	}
	switch cmp {
	case ">":
		return l(opJgtK), nil
	case ">=":
		return l(opJgeK), nil
	case "<":
		return notNode{l(opJgeK)}, nil
	case "<=":
		return notNode{l(opJgtK)}, nil
	case "=", "==":
		return l(opJeqK), nil
	case "!=":
		return notNode{l(opJeqK)}, nil
	}
	return nil, p.errf(ErrSyntax, "len: comparison %q (want <, <=, >, >=, =, !=)", cmp)
}

// ipProto: IPv4 with protocol v; ip6Proto: IPv6 with next header v, directly
// or after one fragment header (libpcap's rule).
func ipProto(o, v uint32) node {
	return and(etherType(o, 0x800), leaf{loads: []bpf.RawInstruction{ldb(23 + o)}, jop: opJeqK, k: v})
}

func ip6Proto(o, v uint32) node {
	nxt := func(k uint32) leaf { return leaf{loads: []bpf.RawInstruction{ldb(20 + o)}, jop: opJeqK, k: k} }
	frag := and(nxt(44), leaf{loads: []bpf.RawInstruction{ldb(54 + o)}, jop: opJeqK, k: v})
	return and(etherType(o, 0x86dd), or(nxt(v), frag))
}

func protoOnly(proto string, o uint32) node {
	switch proto {
	case "ip":
		return etherType(o, 0x800)
	case "ip6":
		return etherType(o, 0x86dd)
	case "arp":
		return etherType(o, 0x806)
	case "rarp":
		return etherType(o, 0x8035)
	case "icmp":
		return ipProto(o, 1)
	case "icmp6":
		return ip6Proto(o, 58)
	}
	v := protoNumbers[proto] // tcp, udp, sctp
	return or(ipProto(o, v), ip6Proto(o, v))
}

func (p *parser) protoPrimitive(family string) (node, error) {
	o := p.off
	w := p.peek()
	v, known := protoNumbers[w]
	if known {
		p.next()
	} else {
		n, err := p.number("proto", 8)
		if err != nil {
			return nil, err
		}
		v = n
	}
	switch family {
	case "ip":
		return ipProto(o, v), nil
	case "ip6":
		return ip6Proto(o, v), nil
	case "":
		return or(ipProto(o, v), ip6Proto(o, v)), nil
	}
	return nil, p.errf(ErrUnsupported, "%s proto (only ip, ip6 or no qualifier)", family)
}

// dirTest combines a source and a destination test per dir.
func dirTest(dir string, src, dst node) node {
	switch dir {
	case "src":
		return src
	case "dst":
		return dst
	case "src and dst":
		return and(src, dst)
	}
	return or(src, dst)
}

func (p *parser) etherHost(dir string) (node, error) {
	w := p.next()
	mac, err := net.ParseMAC(w)
	if err != nil || len(mac) != 6 {
		return nil, p.errf(ErrSyntax, "ether address %q: want xx:xx:xx:xx:xx:xx", w)
	}
	at := func(off uint32) node {
		return and(leaf{loads: []bpf.RawInstruction{ldw(off + 2)}, jop: opJeqK, k: binary.BigEndian.Uint32(mac[2:])},
			leaf{loads: []bpf.RawInstruction{ldh(off)}, jop: opJeqK, k: uint32(binary.BigEndian.Uint16(mac[:2]))})
	}
	return dirTest(dir, at(6), at(0)), nil
}

func (p *parser) hostNet(q quals, o uint32) (node, error) {
	w := p.next()
	var pfx netip.Prefix
	var err error
	switch {
	case q.kind == "net" && p.peek() == "mask":
		p.next()
		m := p.next()
		addr, err1 := netip.ParseAddr(w)
		mask, err2 := netip.ParseAddr(m)
		if err1 != nil || err2 != nil || !addr.Is4() || !mask.Is4() {
			return nil, p.errf(ErrSyntax, "net %s mask %s: want IPv4 address and mask", w, m)
		}
		ones, bits := net.IPMask(mask.AsSlice()).Size()
		if bits == 0 {
			return nil, p.errf(ErrSyntax, "mask %s: not a contiguous netmask", m)
		}
		pfx = netip.PrefixFrom(addr, ones)
	case strings.Contains(w, "/"):
		if q.kind != "net" {
			return nil, p.errf(ErrSyntax, "%s %q: a prefix needs net", q.kind, w)
		}
		pfx, err = netip.ParsePrefix(w)
	default:
		var a netip.Addr
		a, err = netip.ParseAddr(w)
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	if err != nil || !pfx.IsValid() {
		return nil, p.errf(ErrSyntax, "%s %q: want an IPv4 or IPv6 address (host names are not supported)", q.kind, w)
	}
	if pfx.Masked() != pfx {
		return nil, p.errf(ErrSyntax, "net %s: bits set past the /%d mask", w, pfx.Bits())
	}
	addr := pfx.Addr().Unmap()
	if addr.Is6() {
		if q.proto != "" && q.proto != "ip6" {
			return nil, p.errf(ErrUnsupported, "%s with an IPv6 address", q.proto)
		}
		b := addr.As16()
		words := func(base uint32) node {
			var ns []node
			for i := range 4 {
				bits := min(max(pfx.Bits()-32*i, 0), 32)
				if bits == 0 {
					break
				}
				ns = append(ns, addrLeaf(base+uint32(4*i), binary.BigEndian.Uint32(b[4*i:]), bits))
			}
			return and(ns...)
		}
		if pfx.Bits() == 0 {
			return etherType(o, 0x86dd), nil
		}
		return and(etherType(o, 0x86dd), dirTest(q.dir, words(22+o), words(38+o))), nil
	}
	b := addr.As4()
	v := binary.BigEndian.Uint32(b[:])
	ip := func() node {
		return and(etherType(o, 0x800), dirTest(q.dir, addrLeaf(26+o, v, pfx.Bits()), addrLeaf(30+o, v, pfx.Bits())))
	}
	arpOf := func(types ...uint32) node {
		var ets []node
		for _, t := range types {
			ets = append(ets, etherType(o, t))
		}
		return and(or(ets...), dirTest(q.dir, addrLeaf(28+o, v, pfx.Bits()), addrLeaf(38+o, v, pfx.Bits())))
	}
	switch q.proto {
	case "":
		return or(ip(), arpOf(0x806, 0x8035)), nil
	case "ip":
		return ip(), nil
	case "arp":
		return arpOf(0x806), nil
	case "rarp":
		return arpOf(0x8035), nil
	}
	return nil, p.errf(ErrUnsupported, "%s %s (host and net take ip, ip6, arp or rarp)", q.proto, q.kind)
}

// addrLeaf compares the 32-bit word at off with v under a /bits mask.
func addrLeaf(off, v uint32, bits int) node {
	if bits >= 32 {
		return leaf{loads: []bpf.RawInstruction{ldw(off)}, jop: opJeqK, k: v}
	}
	mask := ^uint32(0) << (32 - bits)
	if bits == 0 {
		mask = 0
	}
	return leaf{loads: []bpf.RawInstruction{ldw(off), {Op: classALU | aluAnd, K: mask}}, jop: opJeqK, k: v & mask}
}

func (p *parser) port(q quals, o uint32) (node, error) {
	var protos []uint32
	switch q.proto {
	case "":
		protos = []uint32{132, 6, 17}
	case "tcp", "udp", "sctp":
		protos = []uint32{protoNumbers[q.proto]}
	default:
		return nil, p.errf(ErrUnsupported, "%s %s (ports take tcp, udp, sctp or no qualifier)", q.proto, q.kind)
	}
	w := p.next()
	lo, hi, err := parsePorts(w, q.kind == "portrange")
	if err != nil {
		return nil, p.errf(ErrSyntax, "%s %q: %v", q.kind, w, err)
	}
	test := func(loads ...bpf.RawInstruction) node {
		if lo == hi {
			return leaf{loads: loads, jop: opJeqK, k: lo}
		}
		return and(leaf{loads: loads, jop: opJgeK, k: lo}, notNode{leaf{loads: loads, jop: opJgtK, k: hi}})
	}
	var v4, v6 []node
	for _, pr := range protos {
		v6 = append(v6, leaf{loads: []bpf.RawInstruction{ldb(20 + o)}, jop: opJeqK, k: pr})
		v4 = append(v4, leaf{loads: []bpf.RawInstruction{ldb(23 + o)}, jop: opJeqK, k: pr})
	}
	six := and(etherType(o, 0x86dd), or(v6...), dirTest(q.dir, test(ldh(54+o)), test(ldh(56+o))))
	msh := bpf.RawInstruction{Op: opLdxMsh, K: 14 + o}
	ind := func(k uint32) bpf.RawInstruction { return bpf.RawInstruction{Op: opLdIndH, K: k} }
	four := and(etherType(o, 0x800), or(v4...),
		notNode{leaf{loads: []bpf.RawInstruction{ldh(20 + o)}, jop: opJsetK, k: 0x1fff}},
		dirTest(q.dir, test(msh, ind(14+o)), test(msh, ind(16+o))))
	return or(six, four), nil
}

func parsePorts(w string, isRange bool) (lo, hi uint32, err error) {
	a, b, isPair := strings.Cut(w, "-")
	if isPair != isRange {
		if isRange {
			return 0, 0, fmt.Errorf("want LOW-HIGH")
		}
		return 0, 0, fmt.Errorf("want a number (use portrange for ranges)")
	}
	l, err := strconv.ParseUint(a, 10, 16)
	if err != nil {
		return 0, 0, fmt.Errorf("want a port number 0..65535 (service names are not supported)")
	}
	h := l
	if isRange {
		if h, err = strconv.ParseUint(b, 10, 16); err != nil {
			return 0, 0, fmt.Errorf("want a port number 0..65535")
		}
	}
	if h < l {
		l, h = h, l // libpcap swaps a reversed range
	}
	return uint32(l), uint32(h), nil
}
