package cbpf

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// MaxInstructions is the longest program accepted (the kernel's
// BPF_MAXINSNS).
const MaxInstructions = 4096

// ScratchSlots is the number of scratch memory words M[0..15].
const ScratchSlots = 16

// Classic BPF opcodes (class | size | mode, class | op | src).
const (
	opLdImm  = 0x00
	opLdW    = 0x20
	opLdH    = 0x28
	opLdB    = 0x30
	opLdIndW = 0x40
	opLdIndH = 0x48
	opLdIndB = 0x50
	opLdMem  = 0x60
	opLdLen  = 0x80
	opLdxImm = 0x01
	opLdxMem = 0x61
	opLdxLen = 0x81
	opLdxMsh = 0xb1
	opSt     = 0x02
	opStx    = 0x03
	opJa     = 0x05
	opJeqK   = 0x15
	opJeqX   = 0x1d
	opJgtK   = 0x25
	opJgtX   = 0x2d
	opJgeK   = 0x35
	opJgeX   = 0x3d
	opJsetK  = 0x45
	opJsetX  = 0x4d
	opRetK   = 0x06
	opRetA   = 0x16
	opTax    = 0x07
	opTxa    = 0x87

	classALU = 0x04
	aluAdd   = 0x00
	aluSub   = 0x10
	aluMul   = 0x20
	aluDiv   = 0x30
	aluOr    = 0x40
	aluAnd   = 0x50
	aluLsh   = 0x60
	aluRsh   = 0x70
	aluNeg   = 0x80
	aluMod   = 0x90
	aluXor   = 0xa0
	srcX     = 0x08
)

// opNames names every opcode Validate accepts, in tcpdump's mnemonics.
var opNames = map[uint16]string{
	opLdImm: "ld #k", opLdW: "ld [k]", opLdH: "ldh [k]", opLdB: "ldb [k]",
	opLdIndW: "ld [x+k]", opLdIndH: "ldh [x+k]", opLdIndB: "ldb [x+k]",
	opLdMem: "ld M[k]", opLdLen: "ld #pktlen", opLdxImm: "ldx #k", opLdxMem: "ldx M[k]",
	opLdxLen: "ldx #pktlen", opLdxMsh: "ldxb 4*([k]&0xf)", opSt: "st M[k]", opStx: "stx M[k]",
	opJa: "ja", opJeqK: "jeq #k", opJeqX: "jeq x", opJgtK: "jgt #k", opJgtX: "jgt x",
	opJgeK: "jge #k", opJgeX: "jge x", opJsetK: "jset #k", opJsetX: "jset x",
	opRetK: "ret #k", opRetA: "ret a", opTax: "tax", opTxa: "txa",
	classALU | aluNeg: "neg",
}

func init() {
	for op, name := range map[uint16]string{aluAdd: "add", aluSub: "sub", aluMul: "mul", aluDiv: "div",
		aluOr: "or", aluAnd: "and", aluLsh: "lsh", aluRsh: "rsh", aluMod: "mod", aluXor: "xor"} {
		opNames[classALU|op] = name + " #k"
		opNames[classALU|op|srcX] = name + " x"
	}
}

// OpName returns tcpdump's mnemonic for op, or "" for an unknown opcode.
func OpName(op uint16) string { return opNames[op] }

// insError formats a validation error for instruction i.
func insError(i int, ins bpf.RawInstruction, err error, format string, args ...any) error {
	name := opNames[ins.Op]
	if name == "" {
		name = "?"
	}
	return fmt.Errorf("instruction %d (op 0x%02x %s): %w: "+format,
		append([]any{i, ins.Op, name, err}, args...)...)
}

// Validate checks prog against the rules in the package documentation and
// returns the first violation, naming the instruction index and opcode.
func Validate(prog []bpf.RawInstruction) error {
	n := len(prog)
	if n == 0 {
		return ErrEmpty
	}
	if n > MaxInstructions {
		return fmt.Errorf("%w: %d instructions, at most %d allowed", ErrTooLong, n, MaxInstructions)
	}
	for i, ins := range prog {
		if _, ok := opNames[ins.Op]; !ok {
			return insError(i, ins, ErrOpcode, "not a classic BPF instruction")
		}
		rest := uint32(n - 1 - i) // instructions after i
		switch ins.Op {
		case opJa:
			if ins.K >= rest {
				return insError(i, ins, ErrJump, "target %d past the last instruction %d", uint64(i)+1+uint64(ins.K), n-1)
			}
		case opJeqK, opJeqX, opJgtK, opJgtX, opJgeK, opJgeX, opJsetK, opJsetX:
			if uint32(ins.Jt) >= rest {
				return insError(i, ins, ErrJump, "true target %d past the last instruction %d", i+1+int(ins.Jt), n-1)
			}
			if uint32(ins.Jf) >= rest {
				return insError(i, ins, ErrJump, "false target %d past the last instruction %d", i+1+int(ins.Jf), n-1)
			}
		case opLdMem, opLdxMem, opSt, opStx:
			if ins.K >= ScratchSlots {
				return insError(i, ins, ErrOperand, "scratch index %d, must be below %d", ins.K, ScratchSlots)
			}
		case opLdW, opLdH, opLdB, opLdIndW, opLdIndH, opLdIndB, opLdxMsh:
			if ins.K >= 1<<31 {
				return insError(i, ins, ErrOperand, "offset %#x is negative (ancillary and link/net-relative loads are not supported)", ins.K)
			}
		case classALU | aluDiv, classALU | aluMod:
			if ins.K == 0 {
				return insError(i, ins, ErrDivZero, "constant divisor is 0")
			}
		case classALU | aluLsh, classALU | aluRsh:
			if ins.K >= 32 {
				return insError(i, ins, ErrOperand, "shift by %d, must be below 32", ins.K)
			}
		}
	}
	if last := prog[n-1]; last.Op != opRetK && last.Op != opRetA {
		return insError(n-1, last, ErrNoReturn, "the last instruction must be ret")
	}
	return nil
}
