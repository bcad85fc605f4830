package cbpf

import (
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/net/bpf"
)

// decodeFuzzProgram reads 8 bytes per instruction: op (2, big-endian),
// jt, jf, k (4, big-endian).
func decodeFuzzProgram(b []byte) []bpf.RawInstruction {
	prog := make([]bpf.RawInstruction, 0, len(b)/8)
	for ; len(b) >= 8; b = b[8:] {
		prog = append(prog, bpf.RawInstruction{Op: binary.BigEndian.Uint16(b), Jt: b[2], Jf: b[3], K: binary.BigEndian.Uint32(b[4:])})
	}
	return prog
}

// FuzzCompile feeds arbitrary programs and frames to Load and Run: a
// program either is refused with one of the package's errors or runs
// exactly like x/net/bpf's VM (where the VM implements its instructions).
// Seeds: testdata/fuzz/FuzzCompile (tcpdump programs with matching frames).
func FuzzCompile(f *testing.F) {
	f.Fuzz(func(t *testing.T, progBytes, pkt []byte) {
		raw := decodeFuzzProgram(progBytes)
		p, err := Load(raw)
		if err != nil {
			for _, known := range []error{ErrEmpty, ErrTooLong, ErrOpcode, ErrJump, ErrNoReturn, ErrDivZero, ErrOperand} {
				if errors.Is(err, known) {
					return
				}
			}
			t.Fatalf("unclassified error: %v", err)
		}
		var m Machine
		got := p.Run(&m, pkt)
		for _, ins := range raw {
			if ins.Op == opLdxLen || ins.Op == classALU|aluNeg {
				return // the oracle gets these wrong or lacks them
			}
		}
		ins, ok := bpf.Disassemble(raw)
		if !ok {
			return
		}
		vm, err := bpf.NewVM(ins)
		if err != nil {
			t.Fatalf("we accept, x/net/bpf refuses: %v\n%s", err, FormatText(raw))
		}
		want, _ := vm.Run(pkt)
		if int(got) != want {
			t.Fatalf("compiled %d, vm %d\n%s", got, want, FormatText(raw))
		}
	})
}

// FuzzCompileExpr checks that any expression either fails with ErrSyntax,
// ErrUnsupported or ErrTooLong, or yields a program both Load and x/net/bpf
// accept.
func FuzzCompileExpr(f *testing.F) {
	f.Fuzz(func(t *testing.T, expr string) {
		raw, err := CompileExpr(expr)
		if err != nil {
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLong) {
				t.Fatalf("%q: unclassified error %v", expr, err)
			}
			return
		}
		if _, err := Load(raw); err != nil {
			t.Fatalf("%q: compiled program invalid: %v", expr, err)
		}
		ins, _ := bpf.Disassemble(raw)
		if _, err := bpf.NewVM(ins); err != nil {
			t.Fatalf("%q: x/net/bpf refuses: %v", expr, err)
		}
	})
}
