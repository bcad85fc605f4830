package cbpf_test

import (
	"fmt"

	"github.com/lana-net/lana/internal/cbpf"
)

// Compile an expression, load it and filter one frame with a per-goroutine
// Machine.
func ExampleCompileExpr() {
	raw, err := cbpf.CompileExpr("udp dst port 9")
	if err != nil {
		panic(err)
	}
	prog, err := cbpf.Load(raw)
	if err != nil {
		panic(err)
	}
	frame := make([]byte, 60)
	copy(frame[12:], []byte{0x08, 0x00, 0x45}) // IPv4, 20-byte header
	frame[23] = 17                             // UDP
	frame[37] = 9                              // destination port 9
	var m cbpf.Machine
	fmt.Println(prog.Run(&m, frame) != 0)
	frame[37] = 10
	fmt.Println(prog.Run(&m, frame) != 0)
	// Output:
	// true
	// false
}

// Validation names the instruction and opcode at fault.
func ExampleLoad() {
	raw, _ := cbpf.ParseText("{ 0x28, 0, 0, 12 }, { 0x15, 0, 5, 0x800 }, { 0x06, 0, 0, 0 }")
	_, err := cbpf.Load(raw)
	fmt.Println(err)
	// Output:
	// instruction 1 (op 0x15 jeq #k): jump out of range: false target 7 past the last instruction 2
}
