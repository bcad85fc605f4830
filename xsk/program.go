// The XDP side of package xsk: the program that decides, per received frame,
// whether it goes to the AF_XDP socket of its RX queue or on to the kernel's
// stack. The program is assembled in steering_asm.go with cilium/ebpf's asm
// package (no clang on the build machines, no object file to keep in step);
// this file loads it, attaches it with a bpf_link and manages its maps.

package xsk

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Errors of the XDP program. Compare with errors.Is: the returned errors wrap
// them with context.
var (
	// ErrProgramClosed is returned by every Program method after Close.
	ErrProgramClosed = errors.New("xsk program closed")
	// ErrProgramAttached is returned by Attach when the Program is
	// already attached: one Program serves one interface at a time.
	ErrProgramAttached = errors.New("xdp program already attached")
	// ErrXDPBusy is returned by Attach when the interface already carries
	// an XDP program, whoever attached it. Attach never replaces one.
	ErrXDPBusy = errors.New("interface already carries an xdp program")
	// ErrQueueNotRegistered is returned by Unregister for a queue that has
	// no socket registered.
	ErrQueueNotRegistered = errors.New("no socket registered for queue")
)

// DefaultProgramQueues is the XSKMAP size ProgramConfig.Queues defaults to.
const DefaultProgramQueues = 64

// progMaxQueues bounds ProgramConfig.Queues: far above any NIC's queue count,
// low enough that a typo does not allocate a huge map.
const progMaxQueues = 1 << 16

// ProgramConfig shapes a Program. The zero value steers LANA's ethertypes
// (DefaultSteering) for up to 64 RX queues.
type ProgramConfig struct {
	// Steering is the initial steering. The zero value (All false,
	// EtherTypes nil) means DefaultSteering(); to start steering nothing,
	// pass a non-nil empty EtherTypes.
	Steering Steering
	// Queues is the number of XSKMAP slots, one per RX queue index that
	// may carry a socket (default 64). Frames from queues at or above it
	// are treated as having no socket.
	Queues int
}

// AttachMode is how an XDP program is hooked into an interface.
type AttachMode int

const (
	// AttachNone means not attached.
	AttachNone AttachMode = iota
	// AttachDriver is native XDP: the driver runs the program on its
	// receive path before any socket buffer exists.
	AttachDriver
	// AttachGeneric is generic (SKB) XDP: the kernel runs the program
	// after building a socket buffer. It works on every interface, slower.
	AttachGeneric
)

// String returns "none", "driver" or "generic".
func (m AttachMode) String() string {
	switch m {
	case AttachNone:
		return "none"
	case AttachDriver:
		return "driver"
	case AttachGeneric:
		return "generic"
	}
	return fmt.Sprintf("AttachMode(%d)", int(m))
}

// ProgramCounters are the program's own counters, summed over CPUs. Every
// frame the program sees adds one to exactly one of them.
type ProgramCounters struct {
	// Redirected counts steered frames that bpf_redirect_map accepted for
	// the queue's socket. The kernel may still drop one after the program
	// returns (socket RX ring or fill ring empty); the socket's own
	// statistics count those.
	Redirected uint64
	// NotSteered counts frames passed to the kernel's stack because
	// their ethertype is not steered.
	NotSteered uint64
	// NoSocket counts steered frames passed to the kernel's stack because
	// no socket is registered for their RX queue.
	NoSocket uint64
	// Short counts frames passed to the kernel's stack because they are
	// shorter than an Ethernet header (14 bytes, 18 with a VLAN tag).
	Short uint64
}

// Total returns the number of frames the counters account for.
func (c ProgramCounters) Total() uint64 {
	return c.Redirected + c.NotSteered + c.NoSocket + c.Short
}

// progCounters is the kernel's per-CPU counters value; the field offsets are
// progCount* in steering_asm.go.
type progCounters struct {
	Redirected, NotSteered, NoSocket, Short uint64
}

// Program is LANA's XDP program and its maps: it hands the frames that
// Steering selects to the AF_XDP socket registered for their RX queue and
// passes every other frame to the kernel, so the host's own networking keeps
// working on an interface LANA uses.
//
// # Lifetime
//
// NewProgram loads the program and creates its three maps: an XSKMAP (RX
// queue index -> socket), a one-entry array holding the steering config, and a
// per-CPU array of counters. Attach hooks the program into one interface with
// a bpf_link; Detach unhooks it and Attach may be called again, on any
// interface. Close detaches and frees everything; it is idempotent.
//
// Nothing is pinned in bpffs: the link, program and maps live exactly as long
// as this process holds their file descriptors. When the process dies, even by
// SIGKILL, the kernel closes them, the link goes and the interface is left
// without an XDP program. For the same reason, Attach refuses an interface
// that already carries an XDP program (ErrXDPBusy) instead of replacing it.
//
// # Steering at runtime
//
// SetSteering, AddEtherType and RemoveEtherType rewrite the config map while
// the program stays attached: no frame is lost to a reattach. The program
// reads the config once per frame; during an update a frame is steered by
// either the old or the new config (SetSteering rewrites the whole 8 KiB
// bitmap in one map update, not atomically with respect to a frame in flight
// on another CPU, so a frame may see a mix of both for ethertypes that change).
//
// The program reads the ethertype after at most one 802.1Q (0x8100) or
// 802.1ad (0x88A8) tag. Frames shorter than 14 bytes, or whose tag is cut
// short, are passed and counted as Short.
//
// # Sockets
//
// Register puts an AF_XDP socket's fd into the XSKMAP slot of its queue; the
// socket must be bound to the same interface and queue, or the kernel drops
// the frames it cannot deliver. Until a queue has a socket, its steered frames
// are passed to the kernel (bpf_redirect_map's fallback verdict, Linux 5.3+)
// and counted as NoSocket. The map holds its own reference to the socket:
// Unregister before closing a socket to stop steering frames at it.
//
// # Concurrency
//
// All methods are safe for concurrent use; they serialise on a mutex and
// none is meant for a packet-processing hot path.
type Program struct {
	mu sync.Mutex // guards every field below

	prog     *ebpf.Program
	xsks     *ebpf.Map // XSKMAP: RX queue index -> AF_XDP socket fd
	config   *ebpf.Map // array[1] of steerConfig
	counters *ebpf.Map // per-CPU array[1] of progCounters
	queues   int

	// registered[q] is the fd registered for queue q, or -1. The kernel
	// cannot be asked (an XSKMAP is not readable from userspace), and it
	// drops an entry by itself when its socket is closed.
	registered []int

	// steer mirrors the config map's value; it is written only after
	// the map update succeeds. steering is steer decoded, for Steering
	// (decoding scans a bit per ethertype).
	steer    *steerConfig
	steering Steering

	link    link.Link // nil when not attached
	ifindex int
	mode    AttachMode
	closed  bool
}

// NewProgram creates the maps and loads the XDP program; it does not attach
// it. The caller must Close the Program.
func NewProgram(cfg ProgramConfig) (_ *Program, err error) {
	if cfg.Queues == 0 {
		cfg.Queues = DefaultProgramQueues
	}
	if cfg.Queues < 0 || cfg.Queues > progMaxQueues {
		return nil, fmt.Errorf("queues %d: must be between 1 and %d", cfg.Queues, progMaxQueues)
	}
	if !cfg.Steering.All && cfg.Steering.EtherTypes == nil {
		cfg.Steering = DefaultSteering()
	}
	if err := cfg.Steering.Validate(); err != nil {
		return nil, err
	}

	p := &Program{queues: cfg.Queues, registered: make([]int, cfg.Queues)}
	for i := range p.registered {
		p.registered[i] = -1
	}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	p.xsks, err = ebpf.NewMap(&ebpf.MapSpec{
		Name:       "lana_xsks",
		Type:       ebpf.XSKMap,
		KeySize:    4,
		ValueSize:  4,
		MaxEntries: uint32(cfg.Queues),
	})
	if err != nil {
		return nil, fmt.Errorf("create xskmap: %w", err)
	}
	p.config, err = ebpf.NewMap(&ebpf.MapSpec{
		Name:       "lana_steer",
		Type:       ebpf.Array,
		KeySize:    4,
		ValueSize:  steerConfigSize,
		MaxEntries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("create steering map: %w", err)
	}
	p.counters, err = ebpf.NewMap(&ebpf.MapSpec{
		Name:       "lana_counters",
		Type:       ebpf.PerCPUArray,
		KeySize:    4,
		ValueSize:  32,
		MaxEntries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("create counters map: %w", err)
	}
	if err := p.writeSteering(steerEncode(cfg.Steering)); err != nil {
		return nil, err
	}
	p.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "lana_steer",
		Type:         ebpf.XDP,
		License:      "Apache-2.0",
		Instructions: progInstructions(p.xsks.FD(), p.config.FD(), p.counters.FD()),
	})
	if err != nil {
		return nil, fmt.Errorf("load xdp program: %w", err)
	}
	return p, nil
}

// Queues returns the XSKMAP size: valid queues for Register are 0..Queues()-1.
func (p *Program) Queues() int { return p.queues }

// Attach hooks the program into the interface ifindex (in the calling
// thread's network namespace) with a bpf_link, in driver mode if the driver
// supports it and in generic mode otherwise, and reports the mode obtained.
// It fails with ErrXDPBusy if the interface already carries an XDP program
// and with ErrProgramAttached if p is already attached.
func (p *Program) Attach(ifindex int) (AttachMode, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return AttachNone, ErrProgramClosed
	}
	if p.link != nil {
		return AttachNone, fmt.Errorf("attach xdp to ifindex %d: %w to ifindex %d", ifindex, ErrProgramAttached, p.ifindex)
	}
	dev, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return AttachNone, fmt.Errorf("attach xdp: find ifindex %d: %w", ifindex, err)
	}
	name := dev.Attrs().Name
	if x := dev.Attrs().Xdp; x != nil && x.Attached {
		return AttachNone, fmt.Errorf("attach xdp to %s: %w (program id %d)", name, ErrXDPBusy, x.ProgId)
	}

	mode := AttachDriver
	l, err := link.AttachXDP(link.XDPOptions{Program: p.prog, Interface: ifindex, Flags: link.XDPDriverMode})
	if err != nil && !progBusy(err) {
		// No native XDP in this driver: fall back to generic mode.
		mode = AttachGeneric
		var gerr error
		l, gerr = link.AttachXDP(link.XDPOptions{Program: p.prog, Interface: ifindex, Flags: link.XDPGenericMode})
		if gerr != nil {
			err = fmt.Errorf("driver mode: %w; generic mode: %w", err, gerr)
		} else {
			err = nil
		}
	}
	if err != nil {
		if progBusy(err) {
			// Someone attached a program between the check and now.
			return AttachNone, fmt.Errorf("attach xdp to %s: %w: %w", name, ErrXDPBusy, err)
		}
		return AttachNone, fmt.Errorf("attach xdp to %s: %w", name, err)
	}
	p.link, p.ifindex, p.mode = l, ifindex, mode
	return mode, nil
}

// progBusy reports whether an attach error says the interface already has a
// program: EBUSY from the same mode, EEXIST from the other mode.
func progBusy(err error) bool {
	return errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST)
}

// Mode returns how p is attached, AttachNone when it is not.
func (p *Program) Mode() AttachMode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Detach unhooks the program from its interface. Registered sockets and
// steering are kept for a later Attach. Detaching a detached Program is a
// no-op.
func (p *Program) Detach() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.detachLocked()
}

func (p *Program) detachLocked() error {
	if p.link == nil {
		return nil
	}
	err := p.link.Close()
	p.link, p.mode = nil, AttachNone
	if err != nil {
		return fmt.Errorf("detach xdp from ifindex %d: %w", p.ifindex, err)
	}
	return nil
}

// Register makes fd, an AF_XDP socket bound to queue of the attached
// interface, the receiver of the steered frames of that RX queue, replacing
// any socket registered before.
func (p *Program) Register(queue int, fd int) error {
	if err := p.checkQueue(queue); err != nil {
		return fmt.Errorf("register socket: %w", err)
	}
	if fd < 0 {
		return fmt.Errorf("register socket: fd %d: must not be negative", fd)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrProgramClosed
	}
	if err := p.xsks.Put(uint32(queue), uint32(fd)); err != nil {
		return fmt.Errorf("register socket for queue %d: %w", queue, err)
	}
	p.registered[queue] = fd
	return nil
}

// Unregister removes the socket of queue; that queue's steered frames go to
// the kernel's stack again. It fails with ErrQueueNotRegistered when no socket
// was registered for the queue through p (a socket closed since is still
// counted as registered: the kernel has emptied its slot already, and
// Unregister succeeds).
func (p *Program) Unregister(queue int) error {
	if err := p.checkQueue(queue); err != nil {
		return fmt.Errorf("unregister socket: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrProgramClosed
	}
	if p.registered[queue] < 0 {
		return fmt.Errorf("unregister queue %d: %w", queue, ErrQueueNotRegistered)
	}
	// Deleting an XSKMAP slot succeeds even when it is already empty.
	if err := p.xsks.Delete(uint32(queue)); err != nil {
		return fmt.Errorf("unregister queue %d: %w", queue, err)
	}
	p.registered[queue] = -1
	return nil
}

func (p *Program) checkQueue(queue int) error {
	if queue < 0 || queue >= p.queues {
		return fmt.Errorf("queue %d: must be between 0 and %d (ProgramConfig.Queues)", queue, p.queues-1)
	}
	return nil
}

// SetSteering replaces the steering while the program runs.
func (p *Program) SetSteering(s Steering) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("set steering: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrProgramClosed
	}
	return p.writeSteering(steerEncode(s))
}

// Steering returns the steering in force, its ranges sorted and merged.
func (p *Program) Steering() Steering {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.steering
	s.EtherTypes = slices.Clone(s.EtherTypes) // the caller's to change
	return s
}

// AddEtherType steers etherType too, while the program runs. Adding a steered
// ethertype is a no-op.
func (p *Program) AddEtherType(etherType uint16) error {
	return p.editEtherType(etherType, true)
}

// RemoveEtherType stops steering etherType, while the program runs. Removing
// an ethertype that is not steered is a no-op. With Steering.All set, the
// frames are still steered until All is turned off.
func (p *Program) RemoveEtherType(etherType uint16) error {
	return p.editEtherType(etherType, false)
}

func (p *Program) editEtherType(t uint16, on bool) error {
	verb := "add"
	if !on {
		verb = "remove"
	}
	if err := steerCheckRange(EtherTypeRange{First: t, Last: t}); err != nil {
		return fmt.Errorf("%s ethertype: %w", verb, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrProgramClosed
	}
	if p.steer.has(t) == on {
		return nil
	}
	next := *p.steer
	next.set(t, on)
	if err := p.writeSteering(&next); err != nil {
		return fmt.Errorf("%s ethertype %#04x: %w", verb, t, err)
	}
	return nil
}

// writeSteering stores c in the config map and, on success, in p.steer.
// Callers hold p.mu (or own p exclusively, in NewProgram).
func (p *Program) writeSteering(c *steerConfig) error {
	if err := p.config.Put(uint32(0), c[:]); err != nil {
		return fmt.Errorf("write steering map: %w", err)
	}
	p.steer, p.steering = c, steerDecode(c)
	return nil
}

// Counters returns the program's counters summed over all CPUs. They count
// from NewProgram and survive Detach and Attach.
func (p *Program) Counters() (ProgramCounters, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ProgramCounters{}, ErrProgramClosed
	}
	var perCPU []progCounters
	if err := p.counters.Lookup(uint32(0), &perCPU); err != nil {
		return ProgramCounters{}, fmt.Errorf("read xdp counters: %w", err)
	}
	var c ProgramCounters
	for _, v := range perCPU {
		c.Redirected += v.Redirected
		c.NotSteered += v.NotSteered
		c.NoSocket += v.NoSocket
		c.Short += v.Short
	}
	return c, nil
}

// Close detaches the program and frees the link, the program and its maps.
// It is idempotent; every other method fails with ErrProgramClosed after it.
func (p *Program) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	errs := []error{p.detachLocked()}
	closeFD := func(what string, c interface{ Close() error }) {
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", what, err))
		}
	}
	if p.prog != nil {
		closeFD("xdp program", p.prog)
	}
	for _, m := range []struct {
		what string
		m    *ebpf.Map
	}{{"xskmap", p.xsks}, {"steering map", p.config}, {"counters map", p.counters}} {
		if m.m != nil {
			closeFD(m.what, m.m)
		}
	}
	return errors.Join(errs...)
}
