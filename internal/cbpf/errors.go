package cbpf

import "errors"

// Errors returned by Validate, Load, ParseText and CompileExpr; the wrapped
// message names the instruction index and opcode, or the expression token.
// Match them with errors.Is.
var (
	// ErrEmpty: a program without instructions.
	ErrEmpty = errors.New("empty program")
	// ErrTooLong: more than MaxInstructions instructions.
	ErrTooLong = errors.New("program too long")
	// ErrOpcode: an opcode that classic BPF does not define.
	ErrOpcode = errors.New("unknown opcode")
	// ErrJump: a jump outside the program (or backwards, which the
	// unsigned offsets make the same thing).
	ErrJump = errors.New("jump out of range")
	// ErrNoReturn: the last instruction is not a return.
	ErrNoReturn = errors.New("program does not end with a return")
	// ErrDivZero: division or modulo by the constant zero.
	ErrDivZero = errors.New("division by zero")
	// ErrOperand: an operand out of its range (scratch index >= 16, shift
	// by 32 or more, negative/ancillary load offset).
	ErrOperand = errors.New("operand out of range")
	// ErrSyntax: program text or a filter expression that does not parse.
	ErrSyntax = errors.New("syntax error")
	// ErrUnsupported: a valid pcap-filter construct outside the subset
	// CompileExpr implements.
	ErrUnsupported = errors.New("unsupported expression")
)
