package xdpcount

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// Action is the verdict a counting program returns.
type Action int

const (
	// Drop returns XDP_DROP.
	Drop Action = iota
	// Pass returns XDP_PASS.
	Pass
)

func (a Action) String() string {
	switch a {
	case Drop:
		return "drop"
	case Pass:
		return "pass"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// XDP verdicts (enum xdp_action).
const (
	xdpDrop = 1
	xdpPass = 2
)

// Errors returned by this package.
var (
	// ErrAction: an Action other than Drop or Pass.
	ErrAction = errors.New("unknown xdpcount action")
)

// value is one CPU's slot of the counter map.
type value struct {
	Packets uint64
	Bytes   uint64
}

// Counter is a counting XDP program attached to one interface.
// Count, Bytes and Consumed may be called from any goroutine; Close once.
type Counter struct {
	action  Action
	counts  *ebpf.Map
	prog    *ebpf.Program
	link    link.Link
	mu      sync.Mutex // guards vals and last
	vals    []value    // lookup buffer, one slot per possible CPU
	last    uint64     // last packet count read successfully
	ifindex int
}

// Attach loads the program for action and attaches it to interface ifindex
// in driver mode. Call it inside the interface's network namespace.
func Attach(action Action, ifindex int) (_ *Counter, err error) {
	var verdict int32
	switch action {
	case Drop:
		verdict = xdpDrop
	case Pass:
		verdict = xdpPass
	default:
		return nil, fmt.Errorf("%w: %d", ErrAction, int(action))
	}
	c := &Counter{action: action, ifindex: ifindex}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	c.counts, err = ebpf.NewMap(&ebpf.MapSpec{
		Name:       "lana_count",
		Type:       ebpf.PerCPUArray,
		KeySize:    4,
		ValueSize:  16,
		MaxEntries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("create counter map: %w", err)
	}
	c.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "lana_" + action.String(),
		Type:         ebpf.XDP,
		License:      "GPL",
		Instructions: program(c.counts.FD(), verdict),
	})
	if err != nil {
		return nil, fmt.Errorf("load %s program: %w", action, err)
	}
	c.link, err = link.AttachXDP(link.XDPOptions{
		Program:   c.prog,
		Interface: ifindex,
		Flags:     link.XDPDriverMode,
	})
	if err != nil {
		return nil, fmt.Errorf("attach %s program to ifindex %d: %w", action, ifindex, err)
	}
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("possible cpus: %w", err)
	}
	c.vals = make([]value, n)
	return c, nil
}

// program returns: bump packets and bytes in slot 0 of the per-CPU map, then
// return verdict.
func program(mapFD int, verdict int32) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1), // r6 = ctx
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, mapFD),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		// Per-CPU slot: no other CPU writes it, so plain adds suffice.
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word), // ctx->data
		asm.LoadMem(asm.R3, asm.R6, 4, asm.Word), // ctx->data_end
		asm.Sub.Reg(asm.R3, asm.R2),
		asm.LoadMem(asm.R1, asm.R0, 8, asm.DWord),
		asm.Add.Reg(asm.R1, asm.R3),
		asm.StoreMem(asm.R0, 8, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, verdict).WithSymbol("out"),
		asm.Return(),
	}
}

// Map returns the counter map: a per-CPU array with one slot (key 0) whose
// value is {packets, bytes uint64}. It stays owned by c (livegen.Config.PaceMap
// reads it from the generator's XDP program).
func (c *Counter) Map() *ebpf.Map { return c.counts }

// Action returns the verdict c's program returns.
func (c *Counter) Action() Action { return c.action }

// Count returns the frames counted so far, summed over CPUs.
func (c *Counter) Count() (uint64, error) {
	p, _, err := c.read()
	return p, err
}

// Bytes returns the bytes counted so far (frame lengths without FCS), summed
// over CPUs.
func (c *Counter) Bytes() (uint64, error) {
	_, b, err := c.read()
	return b, err
}

// Consumed returns the frame count, or the last count read successfully if
// the lookup fails. Its signature fits livegen.Config.Pace.
func (c *Counter) Consumed() uint64 {
	p, _, err := c.read()
	if err != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.last
	}
	return p
}

func (c *Counter) read() (packets, bytes uint64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.counts.Lookup(uint32(0), c.vals); err != nil {
		return 0, 0, fmt.Errorf("read %s counter: %w", c.action, err)
	}
	for _, v := range c.vals {
		packets += v.Packets
		bytes += v.Bytes
	}
	c.last = packets
	return packets, bytes, nil
}

// Close detaches the program and frees program and map.
func (c *Counter) Close() error {
	var errs []error
	if c.link != nil {
		if err := c.link.Close(); err != nil {
			errs = append(errs, fmt.Errorf("detach %s program: %w", c.action, err))
		}
		c.link = nil
	}
	if c.prog != nil {
		c.prog.Close()
		c.prog = nil
	}
	if c.counts != nil {
		c.counts.Close()
		c.counts = nil
	}
	return errors.Join(errs...)
}
