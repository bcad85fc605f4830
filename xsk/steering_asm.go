package xsk

import "github.com/cilium/ebpf/asm"

// The steering program is written with cilium/ebpf's asm package rather than
// compiled from C: the build machines have no clang, and a program this small
// (about fifty instructions) reads well as assembly next to the map layouts it
// depends on, with no generated object file to keep in step.

// XDP verdicts, from include/uapi/linux/bpf.h.
const (
	progXDPPass     = 2
	progXDPRedirect = 4
)

// Offsets in struct xdp_md, the program's context.
const (
	progCtxData         = 0
	progCtxDataEnd      = 4
	progCtxRxQueueIndex = 16
)

// Offsets of the counters in the per-CPU counters value (progCounters).
const (
	progCountRedirected = 0
	progCountNotSteered = 8
	progCountNoSocket   = 16
	progCountShort      = 24
)

// Ethernet header geometry.
const (
	progEthHeaderLen  = 14
	progEthTypeOffset = 12
	progVLANTagLen    = 4
)

// progInstructions returns the steering program for the given map fds:
//
//	counters = per-CPU counters value (R7 for the whole run)
//	frame shorter than 14 bytes              -> count short, XDP_PASS
//	ethertype 0x8100/0x88A8: look through one tag; tag cut short -> short
//	config.All or config bitmap has ethertype -> redirect_map(xsks,
//	    rx_queue_index, XDP_PASS): XDP_REDIRECT -> count redirected,
//	    otherwise (no socket for the queue)    -> count no-socket, XDP_PASS
//	else                                       -> count not-steered, XDP_PASS
//
// Registers: R6 holds the context, R7 the counters, R8 the ethertype in host
// order; R6-R9 survive helper calls, R1-R5 do not.
func progInstructions(xsks, config, counters int) asm.Instructions {
	// count adds one to the counter at off, its first instruction
	// labelled label. The value is per-CPU and XDP runs in softirq
	// context, never interleaved with another run on the same CPU, so a
	// plain read-modify-write needs no atomic.
	count := func(label string, off int16) asm.Instructions {
		return asm.Instructions{
			asm.LoadMem(asm.R1, asm.R7, off, asm.DWord).WithSymbol(label),
			asm.Add.Imm(asm.R1, 1),
			asm.StoreMem(asm.R7, off, asm.R1, asm.DWord),
		}
	}
	var insns asm.Instructions
	add := func(is ...asm.Instruction) { insns = append(insns, is...) }

	add(
		asm.Mov.Reg(asm.R6, asm.R1),
		// R7 = lookup(counters, &0)
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, counters),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"), // array key 0 always exists
		asm.Mov.Reg(asm.R7, asm.R0),

		// Bounds: data + 14 <= data_end before reading the ethertype.
		asm.LoadMem(asm.R2, asm.R6, progCtxData, asm.Word),
		asm.LoadMem(asm.R3, asm.R6, progCtxDataEnd, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, progEthHeaderLen),
		asm.JGT.Reg(asm.R4, asm.R3, "short"),
		asm.LoadMem(asm.R8, asm.R2, progEthTypeOffset, asm.Half),
		asm.HostTo(asm.BE, asm.R8, asm.Half),
		asm.JEq.Imm(asm.R8, steerEtherTypeVLAN, "tagged"),
		asm.JNE.Imm(asm.R8, steerEtherTypeQinQ, "classify"),

		// One tag: the real ethertype follows it.
		asm.Mov.Reg(asm.R4, asm.R2).WithSymbol("tagged"),
		asm.Add.Imm(asm.R4, progEthHeaderLen+progVLANTagLen),
		asm.JGT.Reg(asm.R4, asm.R3, "short"),
		asm.LoadMem(asm.R8, asm.R2, progEthTypeOffset+progVLANTagLen, asm.Half),
		asm.HostTo(asm.BE, asm.R8, asm.Half),

		// R0 = lookup(config, &0)
		asm.StoreImm(asm.RFP, -4, 0, asm.Word).WithSymbol("classify"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, config),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "not_steered"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.Word),
		asm.And.Imm(asm.R1, steerFlagAll),
		asm.JNE.Imm(asm.R1, 0, "steer"),
		// bit (t & 7) of bitmap byte (t >> 3); the mask bounds the index
		// to 0..8191 for the verifier.
		asm.Mov.Reg(asm.R1, asm.R8),
		asm.And.Imm(asm.R1, 0xFFFF),
		asm.RSh.Imm(asm.R1, 3),
		asm.Add.Reg(asm.R0, asm.R1),
		asm.LoadMem(asm.R1, asm.R0, steerConfigHeader, asm.Byte),
		asm.Mov.Reg(asm.R2, asm.R8),
		asm.And.Imm(asm.R2, 7),
		asm.RSh.Reg(asm.R1, asm.R2),
		asm.And.Imm(asm.R1, 1),
		asm.JEq.Imm(asm.R1, 0, "not_steered"),

		// redirect_map(xsks, rx_queue_index, XDP_PASS): the flags' low
		// bits are the verdict when the queue has no socket (Linux 5.3+).
		asm.LoadMem(asm.R2, asm.R6, progCtxRxQueueIndex, asm.Word).WithSymbol("steer"),
		asm.LoadMapPtr(asm.R1, xsks),
		asm.Mov.Imm(asm.R3, progXDPPass),
		asm.FnRedirectMap.Call(),
		asm.JNE.Imm(asm.R0, progXDPRedirect, "no_socket"),
	)
	add(count("redirected", progCountRedirected)...)
	add(asm.Mov.Imm(asm.R0, progXDPRedirect), asm.Return())

	add(count("no_socket", progCountNoSocket)...)
	add(asm.Ja.Label("pass"))

	add(count("not_steered", progCountNotSteered)...)
	add(asm.Ja.Label("pass"))

	add(count("short", progCountShort)...)

	add(asm.Mov.Imm(asm.R0, progXDPPass).WithSymbol("pass"), asm.Return())
	return insns
}
