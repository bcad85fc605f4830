package cbpf

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/net/bpf"
)

// Machine is the register file of one run: A, X, scratch memory and the
// frame being filtered. Each goroutine that runs programs owns one (the bpf
// block keeps one per worker); its zero value is ready. Run writes every
// field, so a Machine never carries state from one frame to the next.
type Machine struct {
	pkt  []byte // the frame during Run; nil afterwards
	a, x uint32
	m    [ScratchSlots]uint32
}

// op executes one instruction (or a fused pair) and returns the index of
// the next one, or, when the program returns value v, the negative code
// -1-v (see retCode). A jump whose target is "ret #k" returns that code
// itself, saving a dispatch.
type op func(m *Machine) int

// retCode encodes a return value as a negative next index.
func retCode(v uint32) int { return -1 - int(v) }

// Program is a validated classic BPF program compiled into closures.
// It is immutable and safe for concurrent use with one Machine per goroutine.
type Program struct {
	raw     []bpf.RawInstruction
	ops     []op
	scratch bool // reads scratch memory: Run zeroes it first
}

// Load validates raw (see Validate) and compiles it. The Program keeps its
// own copy of raw.
func Load(raw []bpf.RawInstruction) (*Program, error) {
	if err := Validate(raw); err != nil {
		return nil, err
	}
	p := &Program{raw: append([]bpf.RawInstruction(nil), raw...), ops: make([]op, len(raw))}
	for i := range p.raw {
		p.ops[i] = p.compile(i)
		switch p.raw[i].Op {
		case opLdMem, opLdxMem:
			p.scratch = true
		}
	}
	return p, nil
}

// Raw returns a copy of the program's instructions.
func (p *Program) Raw() []bpf.RawInstruction { return append([]bpf.RawInstruction(nil), p.raw...) }

// Len returns the number of instructions.
func (p *Program) Len() int { return len(p.raw) }

// Run filters pkt and returns the program's result: 0 means reject, any
// other value is the accept length the program returned (not truncated to
// len(pkt)). Run does not allocate; m must not be used concurrently.
func (p *Program) Run(m *Machine, pkt []byte) uint32 {
	m.pkt, m.a, m.x = pkt, 0, 0
	if p.scratch {
		m.m = [ScratchSlots]uint32{}
	}
	ops := p.ops
	pc := 0
	for pc >= 0 {
		pc = ops[pc](m)
	}
	m.pkt = nil
	return uint32(-1 - pc)
}

// load reads size bytes big-endian at off, reporting false past the end.
func load(pkt []byte, off uint64, size int) (uint32, bool) {
	if off+uint64(size) > uint64(len(pkt)) {
		return 0, false
	}
	switch size {
	case 4:
		return binary.BigEndian.Uint32(pkt[off:]), true
	case 2:
		return uint32(binary.BigEndian.Uint16(pkt[off:])), true
	default:
		return uint32(pkt[off]), true
	}
}

func loadSize(op uint16) int {
	switch op & 0x18 {
	case 0x00:
		return 4
	case 0x08:
		return 2
	default:
		return 1
	}
}

// reject ends the run with 0 (out-of-bounds load, division by X == 0).
func reject(*Machine) int { return -1 }

// target resolves jump target t: the index, or the return code when the
// instruction there is "ret #k".
func (p *Program) target(t int) int {
	if ins := p.raw[t]; ins.Op == opRetK {
		return retCode(ins.K)
	}
	return t
}

// jumpTest evaluates a conditional jump's test of A against v.
func jumpTest(op uint16, a, v uint32) bool {
	switch op &^ srcX {
	case opJeqK:
		return a == v
	case opJgtK:
		return a > v
	case opJgeK:
		return a >= v
	default: // jset
		return a&v != 0
	}
}

// compile returns the closure for instruction i, fusing an absolute or
// indirect packet load with a following conditional jump on a constant.
func (p *Program) compile(i int) op {
	ins := p.raw[i]
	k := ins.K
	next := i + 1
	switch ins.Op {
	case opLdW, opLdH, opLdB, opLdIndW, opLdIndH, opLdIndB:
		if next < len(p.raw) {
			if j := p.raw[next]; j.Op == opJeqK || j.Op == opJgtK || j.Op == opJgeK || j.Op == opJsetK {
				return fuseLoadJump(ins.Op, k, j, p.target(next+1+int(j.Jt)), p.target(next+1+int(j.Jf)))
			}
		}
		return loadOp(ins.Op, k, next)
	case opLdImm:
		return func(m *Machine) int { m.a = k; return next }
	case opLdxImm:
		return func(m *Machine) int { m.x = k; return next }
	case opLdMem:
		return func(m *Machine) int { m.a = m.m[k&15]; return next }
	case opLdxMem:
		return func(m *Machine) int { m.x = m.m[k&15]; return next }
	case opLdLen:
		return func(m *Machine) int { m.a = uint32(len(m.pkt)); return next }
	case opLdxLen:
		return func(m *Machine) int { m.x = uint32(len(m.pkt)); return next }
	case opLdxMsh:
		off := uint64(k)
		return func(m *Machine) int {
			if off >= uint64(len(m.pkt)) {
				return reject(m)
			}
			m.x = uint32(m.pkt[off]&0xf) << 2
			return next
		}
	case opSt:
		return func(m *Machine) int { m.m[k&15] = m.a; return next }
	case opStx:
		return func(m *Machine) int { m.m[k&15] = m.x; return next }
	case opTax:
		return func(m *Machine) int { m.x = m.a; return next }
	case opTxa:
		return func(m *Machine) int { m.a = m.x; return next }
	case opRetK:
		r := retCode(k)
		return func(*Machine) int { return r }
	case opRetA:
		return func(m *Machine) int { return retCode(m.a) }
	case opJa:
		t := p.target(next + int(k))
		return func(*Machine) int { return t }
	case opJeqK, opJgtK, opJgeK, opJsetK:
		return jumpK(ins.Op, k, p.target(next+int(ins.Jt)), p.target(next+int(ins.Jf)))
	case opJeqX, opJgtX, opJgeX, opJsetX:
		jop, t, f := ins.Op, p.target(next+int(ins.Jt)), p.target(next+int(ins.Jf))
		return func(m *Machine) int {
			if jumpTest(jop, m.a, m.x) {
				return t
			}
			return f
		}
	}
	if ins.Op&0x07 == classALU {
		return aluOp(ins.Op, k, next)
	}
	// Unreachable after Validate; keep the program safe anyway.
	panic(fmt.Sprintf("cbpf: opcode %#x passed validation but has no closure", ins.Op))
}

func loadOp(opc uint16, k uint32, next int) op {
	size, off := loadSize(opc), uint64(k)
	if opc&0xe0 == 0x40 { // indirect
		return func(m *Machine) int {
			v, ok := load(m.pkt, off+uint64(m.x), size)
			if !ok {
				return reject(m)
			}
			m.a = v
			return next
		}
	}
	return func(m *Machine) int {
		v, ok := load(m.pkt, off, size)
		if !ok {
			return reject(m)
		}
		m.a = v
		return next
	}
}

// jumpK specialises the conditional jumps on a constant.
func jumpK(jop uint16, v uint32, t, f int) op {
	switch jop {
	case opJeqK:
		return func(m *Machine) int {
			if m.a == v {
				return t
			}
			return f
		}
	case opJsetK:
		return func(m *Machine) int {
			if m.a&v != 0 {
				return t
			}
			return f
		}
	}
	return func(m *Machine) int {
		if jumpTest(jop, m.a, v) {
			return t
		}
		return f
	}
}

// fuseLoadJump runs "ld{,h,b} [k] or [x+k]" and the conditional jump after
// it in one closure. The jump's own closure stays in place for jumps that
// land on it directly.
func fuseLoadJump(lop uint16, k uint32, j bpf.RawInstruction, t, f int) op {
	off, v, jop := uint64(k), j.K, j.Op
	indirect := lop&0xe0 == 0x40
	switch {
	case lop == opLdH && jop == opJeqK:
		return func(m *Machine) int {
			p := m.pkt
			if off+2 > uint64(len(p)) {
				return reject(m)
			}
			m.a = uint32(binary.BigEndian.Uint16(p[off:]))
			if m.a == v {
				return t
			}
			return f
		}
	case lop == opLdB && jop == opJeqK:
		return func(m *Machine) int {
			p := m.pkt
			if off >= uint64(len(p)) {
				return reject(m)
			}
			m.a = uint32(p[off])
			if m.a == v {
				return t
			}
			return f
		}
	case lop == opLdIndH && jop == opJeqK:
		return func(m *Machine) int {
			p, o := m.pkt, off+uint64(m.x)
			if o+2 > uint64(len(p)) {
				return reject(m)
			}
			m.a = uint32(binary.BigEndian.Uint16(p[o:]))
			if m.a == v {
				return t
			}
			return f
		}
	case lop == opLdW && jop == opJeqK:
		return func(m *Machine) int {
			p := m.pkt
			if off+4 > uint64(len(p)) {
				return reject(m)
			}
			m.a = binary.BigEndian.Uint32(p[off:])
			if m.a == v {
				return t
			}
			return f
		}
	case lop == opLdH && jop == opJsetK:
		return func(m *Machine) int {
			p := m.pkt
			if off+2 > uint64(len(p)) {
				return reject(m)
			}
			m.a = uint32(binary.BigEndian.Uint16(p[off:]))
			if m.a&v != 0 {
				return t
			}
			return f
		}
	}
	size := loadSize(lop)
	return func(m *Machine) int {
		o := off
		if indirect {
			o += uint64(m.x)
		}
		a, ok := load(m.pkt, o, size)
		if !ok {
			return reject(m)
		}
		m.a = a
		if jumpTest(jop, a, v) {
			return t
		}
		return f
	}
}

// aluOp compiles the arithmetic instructions. Shifts follow Go semantics
// (as x/net/bpf's VM): a shift by X >= 32 yields 0.
func aluOp(opc uint16, k uint32, next int) op {
	if opc&srcX == 0 {
		switch opc &^ classALU {
		case aluAdd:
			return func(m *Machine) int { m.a += k; return next }
		case aluSub:
			return func(m *Machine) int { m.a -= k; return next }
		case aluMul:
			return func(m *Machine) int { m.a *= k; return next }
		case aluDiv:
			return func(m *Machine) int { m.a /= k; return next } // k != 0: validated
		case aluMod:
			return func(m *Machine) int { m.a %= k; return next }
		case aluOr:
			return func(m *Machine) int { m.a |= k; return next }
		case aluAnd:
			return func(m *Machine) int { m.a &= k; return next }
		case aluXor:
			return func(m *Machine) int { m.a ^= k; return next }
		case aluLsh:
			return func(m *Machine) int { m.a <<= k; return next }
		case aluRsh:
			return func(m *Machine) int { m.a >>= k; return next }
		case aluNeg:
			return func(m *Machine) int { m.a = -m.a; return next }
		}
	}
	switch opc &^ (classALU | srcX) {
	case aluAdd:
		return func(m *Machine) int { m.a += m.x; return next }
	case aluSub:
		return func(m *Machine) int { m.a -= m.x; return next }
	case aluMul:
		return func(m *Machine) int { m.a *= m.x; return next }
	case aluDiv:
		return func(m *Machine) int {
			if m.x == 0 {
				return reject(m)
			}
			m.a /= m.x
			return next
		}
	case aluMod:
		return func(m *Machine) int {
			if m.x == 0 {
				return reject(m)
			}
			m.a %= m.x
			return next
		}
	case aluOr:
		return func(m *Machine) int { m.a |= m.x; return next }
	case aluAnd:
		return func(m *Machine) int { m.a &= m.x; return next }
	case aluXor:
		return func(m *Machine) int { m.a ^= m.x; return next }
	case aluLsh:
		return func(m *Machine) int { m.a <<= m.x; return next }
	default: // aluRsh
		return func(m *Machine) int { m.a >>= m.x; return next }
	}
}
