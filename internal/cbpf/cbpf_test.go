package cbpf

import (
	"bufio"
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
)

// tcpdumpProgram is one program of testdata/tcpdump-dd.txt.
type tcpdumpProgram struct {
	expr string
	raw  []bpf.RawInstruction
}

func loadTcpdumpPrograms(t testing.TB) []tcpdumpProgram {
	t.Helper()
	f, err := os.Open("testdata/tcpdump-dd.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var progs []tcpdumpProgram
	var text strings.Builder
	flush := func() {
		if len(progs) == 0 {
			return
		}
		raw, err := ParseText(text.String())
		if err != nil {
			t.Fatalf("%q: %v", progs[len(progs)-1].expr, err)
		}
		progs[len(progs)-1].raw = raw
		text.Reset()
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "= "):
			flush()
			progs = append(progs, tcpdumpProgram{expr: line[2:]})
		default:
			text.WriteString(line + "\n")
		}
	}
	flush()
	if len(progs) < 50 {
		t.Fatalf("only %d programs in testdata", len(progs))
	}
	return progs
}

// oracle runs raw in golang.org/x/net/bpf's VM.
func oracle(t testing.TB, raw []bpf.RawInstruction) *bpf.VM {
	t.Helper()
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatalf("x/net/bpf cannot disassemble the program")
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatalf("x/net/bpf refuses the program: %v", err)
	}
	return vm
}

// TestTcpdumpProgramsMatchVM runs every tcpdump-generated program through
// the closure compiler and x/net/bpf's VM on the same frames.
func TestTcpdumpProgramsMatchVM(t *testing.T) {
	frames, _ := testFrames(t, rand.New(rand.NewPCG(1, 2)))
	var m Machine
	for _, tp := range loadTcpdumpPrograms(t) {
		p, err := Load(tp.raw)
		if err != nil {
			t.Fatalf("%q: %v", tp.expr, err)
		}
		vm := oracle(t, tp.raw)
		accepted := 0
		for i, f := range frames {
			want, err := vm.Run(f)
			if err != nil {
				t.Fatalf("%q: vm: %v", tp.expr, err)
			}
			if got := p.Run(&m, f); int(got) != want {
				t.Fatalf("%q frame %d (% x): compiled %d, vm %d", tp.expr, i, f, got, want)
			}
			if want != 0 {
				accepted++
			}
		}
		t.Logf("%-60q accepted %4d of %d", tp.expr, accepted, len(frames))
	}
}

// TestCompileExprMatchesTcpdump compares the matches of CompileExpr's
// program with tcpdump's program for the same expression.
func TestCompileExprMatchesTcpdump(t *testing.T) {
	frames, whole := testFrames(t, rand.New(rand.NewPCG(3, 4)))
	var m Machine
	for _, tp := range loadTcpdumpPrograms(t) {
		raw, err := CompileExpr(tp.expr)
		if err != nil {
			t.Errorf("%q: %v", tp.expr, err)
			continue
		}
		ours, err := Load(raw)
		if err != nil {
			t.Fatalf("%q: our program does not validate: %v\n%s", tp.expr, err, FormatText(raw))
		}
		oracle(t, raw) // x/net/bpf accepts it too
		ref := oracle(t, tp.raw)
		accepted, rejected, cutDiffs := 0, 0, 0
		for i, f := range frames {
			want, _ := ref.Run(f)
			got := ours.Run(&m, f)
			if (got != 0) != (want != 0) && i >= whole && i < 2*whole {
				// A frame cut inside a header: cBPF rejects at the first
				// load past the end, so the result depends on which field
				// a program reads first, and libpcap's optimiser reorders.
				cutDiffs++
				continue
			}
			if (got != 0) != (want != 0) {
				t.Errorf("%q frame %d (% x): ours %d, tcpdump's %d", tp.expr, i, f, got, want)
				break
			}
			if want != 0 {
				accepted++
			} else {
				rejected++
			}
		}
		if cutDiffs > 0 {
			t.Logf("%q: %d of %d truncated frames differ (load order)", tp.expr, cutDiffs, whole)
		}
		if accepted == 0 || rejected == 0 {
			t.Errorf("%q: frames do not exercise both outcomes (%d accepted, %d rejected)", tp.expr, accepted, rejected)
		}
	}
}

func TestParseTextForms(t *testing.T) {
	dd := loadTcpdumpPrograms(t)[0]
	if dd.expr != "udp dst port 9" {
		t.Fatalf("first program is %q", dd.expr)
	}
	b, err := os.ReadFile("testdata/udp-dst-port-9.ddd")
	if err != nil {
		t.Fatal(err)
	}
	ddd, err := ParseText(string(b))
	if err != nil {
		t.Fatal(err)
	}
	comma, err := ParseText(strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", ","))
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range [][]bpf.RawInstruction{ddd, comma} {
		if len(got) != len(dd.raw) {
			t.Fatalf("-ddd gives %d instructions, -dd %d", len(got), len(dd.raw))
		}
		for i := range got {
			if got[i] != dd.raw[i] {
				t.Fatalf("instruction %d: -ddd %+v, -dd %+v", i, got[i], dd.raw[i])
			}
		}
	}
	back, err := ParseText(FormatText(dd.raw))
	if err != nil || len(back) != len(dd.raw) {
		t.Fatalf("FormatText round trip: %v", err)
	}
	for _, bad := range []string{"", "{ 0x28, 0, 0 }", "{ 0x28, 0, 0, 12 ", "3 40 0 0 12", "1,40 0 0 12 7", "{ 0x28, 256, 0, 12 }", "{ x, 0, 0, 1 }"} {
		if _, err := ParseText(bad); err == nil {
			t.Errorf("ParseText(%q) accepted", bad)
		}
	}
}

func TestValidateRefuses(t *testing.T) {
	ret := bpf.RawInstruction{Op: opRetK, K: 1}
	long := make([]bpf.RawInstruction, MaxInstructions+1)
	for i := range long {
		long[i] = ret
	}
	cases := []struct {
		name string
		prog []bpf.RawInstruction
		err  error
		msg  string
	}{
		{"empty", nil, ErrEmpty, "empty"},
		{"too long", long, ErrTooLong, "4097 instructions"},
		{"unknown opcode", []bpf.RawInstruction{{Op: 0xff}, ret}, ErrOpcode, "instruction 0 (op 0xff"},
		{"jt past end", []bpf.RawInstruction{{Op: opJeqK, Jt: 1}, ret}, ErrJump, "instruction 0 (op 0x15 jeq #k): jump out of range: true target 2"},
		{"jf past end", []bpf.RawInstruction{ret, {Op: opJgtX, Jf: 3}, ret}, ErrJump, "instruction 1 (op 0x2d jgt x)"},
		{"ja backwards (wraps)", []bpf.RawInstruction{ret, {Op: opJa, K: 0xffffffff}, ret}, ErrJump, "instruction 1 (op 0x05 ja)"},
		{"no return", []bpf.RawInstruction{{Op: opLdImm, K: 1}}, ErrNoReturn, "instruction 0 (op 0x00 ld #k)"},
		{"falls off", []bpf.RawInstruction{ret, {Op: opTax}}, ErrNoReturn, "instruction 1"},
		{"div zero", []bpf.RawInstruction{{Op: classALU | aluDiv}, ret}, ErrDivZero, "instruction 0 (op 0x34 div #k)"},
		{"mod zero", []bpf.RawInstruction{{Op: classALU | aluMod}, ret}, ErrDivZero, "mod #k"},
		{"scratch", []bpf.RawInstruction{{Op: opSt, K: 16}, ret}, ErrOperand, "scratch index 16"},
		{"shift", []bpf.RawInstruction{{Op: classALU | aluLsh, K: 32}, ret}, ErrOperand, "shift by 32"},
		{"ancillary", []bpf.RawInstruction{{Op: opLdB, K: 0xfffff000}, ret}, ErrOperand, "negative"},
	}
	for _, c := range cases {
		err := Validate(c.prog)
		if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: got %v, want %v containing %q", c.name, err, c.err, c.msg)
		}
		if _, err := Load(c.prog); err == nil {
			t.Errorf("%s: Load accepted", c.name)
		}
	}
}

func TestCompileExprRefuses(t *testing.T) {
	cases := map[string]error{
		"":                       ErrSyntax,
		"udp dst port":           ErrSyntax,
		"udp dst port http":      ErrSyntax,
		"host example.com":       ErrSyntax,
		"(tcp":                   ErrSyntax,
		"tcp)":                   ErrSyntax,
		"tcp and":                ErrSyntax,
		"net 198.18.0.1/15":      ErrSyntax,
		"portrange 9":            ErrSyntax,
		"len ~ 5":                ErrSyntax,
		"ip[6] & 0x1fff = 0":     ErrSyntax,
		"icmp port 9":            ErrUnsupported,
		"wlan host 198.18.0.1":   ErrUnsupported,
		"ether broadcast":        ErrUnsupported,
		"arp host 2001:db8::1":   ErrUnsupported,
		"ether proto 0x10000":    ErrSyntax,
		"vlan 4096":              ErrSyntax,
		"198.18.0.1":             ErrUnsupported,
		"tcp port 80 and 443 or": ErrSyntax,
	}
	for expr, want := range cases {
		if _, err := CompileExpr(expr); !errors.Is(err, want) {
			t.Errorf("CompileExpr(%q) = %v, want %v", expr, err, want)
		}
	}
}

// TestLongExpressionTrampolines builds an expression whose jumps exceed
// 255 instructions, so the generator must route them through ja.
func TestLongExpressionTrampolines(t *testing.T) {
	var parts []string
	for i := range 60 {
		parts = append(parts, "host 198.18.0."+strconv.Itoa(i+1))
	}
	expr := "(" + strings.Join(parts, " or ") + ") and udp"
	raw, err := CompileExpr(expr)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) < 600 {
		t.Fatalf("only %d instructions: the test does not reach the 8-bit jump limit", len(raw))
	}
	trampolines := 0
	for _, ins := range raw {
		if ins.Op == opJa {
			trampolines++
		}
	}
	if trampolines == 0 {
		t.Fatal("no ja trampoline in a program with jumps beyond 255")
	}
	p, err := Load(raw)
	if err != nil {
		t.Fatal(err)
	}
	vm := oracle(t, raw)
	frames, _ := testFrames(t, rand.New(rand.NewPCG(5, 6)))
	var m Machine
	hits := 0
	for _, f := range frames {
		want, _ := vm.Run(f)
		if got := p.Run(&m, f); int(got) != want {
			t.Fatalf("compiled %d, vm %d", got, want)
		}
		if want != 0 {
			hits++
		}
	}
	if hits == 0 {
		t.Fatal("no frame matched")
	}
	var many []string
	for range 400 {
		many = append(many, "tcp")
	}
	if _, err := CompileExpr(strings.Join(many, " or ")); !errors.Is(err, ErrTooLong) {
		t.Fatalf("400 x tcp: %v, want ErrTooLong", err)
	}
}

// randomProgram builds a valid program from every opcode class with forward
// jumps, scratch use and arithmetic, for the differential test.
func randomProgram(rng *rand.Rand) []bpf.RawInstruction {
	n := 2 + rng.IntN(40)
	ops := make([]uint16, 0, len(opNames))
	for op := range opNames {
		// x/net/bpf's VM has no neg, and it disassembles "ldx #pktlen"
		// (0x81) as "ld #pktlen", loading A instead of X: both are left to
		// TestSemanticsOutsideOracle.
		if op != classALU|aluNeg && op != opLdxLen {
			ops = append(ops, op)
		}
	}
	prog := make([]bpf.RawInstruction, n)
	for i := range prog {
		op := ops[rng.IntN(len(ops))]
		if i == n-1 {
			op = []uint16{opRetK, opRetA}[rng.IntN(2)]
		}
		ins := bpf.RawInstruction{Op: op, K: rng.Uint32()}
		rest := n - 1 - i
		switch op {
		case opJa:
			ins.K = uint32(rng.IntN(max(rest, 1)))
		case opJeqK, opJgtK, opJgeK, opJsetK, opJeqX, opJgtX, opJgeX, opJsetX:
			ins.Jt, ins.Jf = uint8(rng.IntN(max(rest, 1))), uint8(rng.IntN(max(rest, 1)))
			ins.K = []uint32{0, 1, 6, 17, 0x800, 0x86dd, rng.Uint32()}[rng.IntN(7)]
		case opLdMem, opLdxMem, opSt, opStx:
			ins.K %= ScratchSlots
		case opLdW, opLdH, opLdB, opLdIndW, opLdIndH, opLdIndB, opLdxMsh:
			ins.K %= 80
		case classALU | aluLsh, classALU | aluRsh:
			ins.K %= 32
		case classALU | aluDiv, classALU | aluMod:
			ins.K = 1 + ins.K%7
		case opRetK:
			ins.K = []uint32{0, 1, 64, AcceptLen}[rng.IntN(4)]
		}
		if i == n-1 && rest == 0 && (op == opJa) {
			ins = bpf.RawInstruction{Op: opRetA}
		}
		prog[i] = ins
	}
	return prog
}

func TestRandomProgramsMatchVM(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	frames, _ := testFrames(t, rng)
	var m Machine
	for n := range 3000 {
		raw := randomProgram(rng)
		p, err := Load(raw)
		if err != nil {
			t.Fatalf("program %d: %v\n%s", n, err, FormatText(raw))
		}
		vm := oracle(t, raw)
		for i := 0; i < len(frames); i += 7 {
			want, _ := vm.Run(frames[i])
			if got := p.Run(&m, frames[i]); int(got) != want {
				t.Fatalf("program %d frame %d: compiled %d, vm %d\n%s", n, i, got, want, FormatText(raw))
			}
		}
	}
}

func TestRunDoesNotAllocate(t *testing.T) {
	raw, err := CompileExpr("udp dst port 9 or (vlan and tcp port 80) or len < 10")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load(raw)
	if err != nil {
		t.Fatal(err)
	}
	frames, _ := testFrames(t, rand.New(rand.NewPCG(9, 9)))
	var m Machine
	if a := testing.AllocsPerRun(100, func() {
		for _, f := range frames {
			p.Run(&m, f)
		}
	}); a != 0 {
		t.Fatalf("%v allocations per run", a)
	}
}

// TestSemanticsOutsideOracle covers what x/net/bpf's VM cannot check.
func TestSemanticsOutsideOracle(t *testing.T) {
	cases := []struct {
		name string
		prog []bpf.RawInstruction
		pkt  []byte
		want uint32
	}{
		{"ldx len loads X", []bpf.RawInstruction{{Op: opLdImm, K: 7}, {Op: opLdxLen}, {Op: classALU | aluAdd | srcX}, {Op: opRetA}}, make([]byte, 60), 67},
		{"neg", []bpf.RawInstruction{{Op: opLdImm, K: 5}, {Op: classALU | aluNeg}, {Op: opRetA}}, nil, 0xfffffffb},
		{"div by X zero rejects", []bpf.RawInstruction{{Op: opLdImm, K: 5}, {Op: classALU | aluDiv | srcX}, {Op: opRetK, K: 9}}, nil, 0},
		{"mod by X zero rejects", []bpf.RawInstruction{{Op: opLdImm, K: 5}, {Op: classALU | aluMod | srcX}, {Op: opRetK, K: 9}}, nil, 0},
		{"load past end rejects", []bpf.RawInstruction{{Op: opLdW, K: 58}, {Op: opRetK, K: 9}}, make([]byte, 60), 0},
		{"last word loads", []bpf.RawInstruction{{Op: opLdW, K: 56}, {Op: opRetK, K: 9}}, make([]byte, 60), 9},
		{"msh past end rejects", []bpf.RawInstruction{{Op: opLdxMsh, K: 60}, {Op: opRetK, K: 9}}, make([]byte, 60), 0},
		{"scratch starts zeroed", []bpf.RawInstruction{{Op: opLdMem, K: 3}, {Op: opRetA}}, nil, 0},
		{"scratch round trip", []bpf.RawInstruction{{Op: opLdxImm, K: 42}, {Op: opStx, K: 15}, {Op: opLdMem, K: 15}, {Op: opRetA}}, nil, 42},
	}
	var m Machine
	for _, c := range cases {
		p, err := Load(c.prog)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		// Leave junk in the machine: Run must not depend on it.
		m.a, m.x, m.m[3] = 1, 2, 3
		if got := p.Run(&m, c.pkt); got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
	}
}
