package cbpf

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
)

// ParseText reads a raw program in one of the forms tcpdump prints:
//
//   - `tcpdump -dd`: C initialisers "{ 0x28, 0, 0, 0x0000000c }," one per
//     instruction (op, jt, jf, k; decimal or 0x hex);
//   - `tcpdump -ddd`: the instruction count, then "op jt jf k" in decimal,
//     separated by newlines or commas ("4,40 0 0 12,21 0 1 2048,...", the
//     form iptables' bpf match takes).
//
// It checks syntax and field ranges only; Load validates the program.
func ParseText(s string) ([]bpf.RawInstruction, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, ErrEmpty
	}
	if strings.Contains(s, "{") {
		return parseBraces(s)
	}
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	if (len(f)-1)%4 != 0 {
		return nil, fmt.Errorf("%w: -ddd form needs a count then 4 numbers per instruction, got %d numbers", ErrSyntax, len(f))
	}
	n, err := strconv.ParseUint(f[0], 10, 32)
	if err != nil || int(n) != (len(f)-1)/4 {
		return nil, fmt.Errorf("%w: -ddd form: count %q does not match the %d instructions that follow", ErrSyntax, f[0], (len(f)-1)/4)
	}
	prog := make([]bpf.RawInstruction, 0, n)
	for i := 1; i < len(f); i += 4 {
		ins, err := parseFields(len(prog), f[i:i+4])
		if err != nil {
			return nil, err
		}
		prog = append(prog, ins)
	}
	return prog, nil
}

func parseBraces(s string) ([]bpf.RawInstruction, error) {
	var prog []bpf.RawInstruction
	for rest := s; ; {
		rest = strings.TrimLeft(rest, " \t\r\n,")
		if rest == "" {
			return prog, nil
		}
		body, after, ok := strings.Cut(rest, "}")
		inner, found := strings.CutPrefix(body, "{")
		if !ok || !found {
			return nil, fmt.Errorf("%w: instruction %d: expected { op, jt, jf, k }, got %q", ErrSyntax, len(prog), firstLine(rest))
		}
		f := strings.Split(inner, ",")
		if len(f) != 4 {
			return nil, fmt.Errorf("%w: instruction %d: %d fields in {%s}, want 4", ErrSyntax, len(prog), len(f), inner)
		}
		ins, err := parseFields(len(prog), f)
		if err != nil {
			return nil, err
		}
		prog = append(prog, ins)
		rest = after
	}
}

func parseFields(i int, f []string) (bpf.RawInstruction, error) {
	var v [4]uint64
	bits := [4]int{16, 8, 8, 32}
	names := [4]string{"op", "jt", "jf", "k"}
	for j := range f {
		w := strings.TrimSpace(f[j])
		n, err := strconv.ParseUint(w, 0, bits[j])
		if err != nil {
			return bpf.RawInstruction{}, fmt.Errorf("%w: instruction %d: %s %q: must be a %d-bit unsigned number", ErrSyntax, i, names[j], w, bits[j])
		}
		v[j] = n
	}
	return bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])}, nil
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return s
}

// FormatText renders prog in `tcpdump -dd` form, one instruction per line.
func FormatText(prog []bpf.RawInstruction) string {
	var b strings.Builder
	for _, ins := range prog {
		fmt.Fprintf(&b, "{ 0x%02x, %d, %d, 0x%08x },\n", ins.Op, ins.Jt, ins.Jf, ins.K)
	}
	return b.String()
}
