package xsk

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Config shapes a Socket. A zero field takes the default named in its
// comment.
type Config struct {
	// UMEM shapes the socket's own UMEM when Shared is nil. When Shared is
	// set, only FillSize and CompletionSize are used: they size this
	// socket's own fill and completion rings.
	UMEM UMEMConfig
	// Shared, when set, makes the socket use that UMEM (XDP_SHARED_UMEM)
	// instead of its own. The UMEM's first socket must still be open, and
	// this socket must be on another queue (or interface) than that one:
	// each such socket has its own fill and completion rings (kernel 5.10
	// or later). Mode must be ModeAuto or the first socket's mode, and
	// need_wakeup follows the first socket.
	Shared *UMEM
	// RXSize and TXSize are the RX and TX ring sizes, powers of two up to
	// MaxRingSize (default DefaultRingSize).
	RXSize, TXSize uint32
	// Mode chooses zero-copy, copy or automatic (default ModeAuto).
	Mode Mode
	// DisableNeedWakeup turns off XDP_USE_NEED_WAKEUP, which is on by
	// default: with it the kernel says when it must be woken, so that a
	// busy socket makes no syscalls.
	DisableNeedWakeup bool
}

// validate checks cfg and returns it with defaults.
func (c Config) validate() (Config, error) {
	if err := c.UMEM.Validate(); err != nil {
		return c, err
	}
	c.UMEM = c.UMEM.withDefaults()
	if c.RXSize == 0 {
		c.RXSize = DefaultRingSize
	}
	if c.TXSize == 0 {
		c.TXSize = DefaultRingSize
	}
	if err := checkRingSize("rx", c.RXSize); err != nil {
		return c, err
	}
	if err := checkRingSize("tx", c.TXSize); err != nil {
		return c, err
	}
	if c.Mode < ModeAuto || c.Mode > ModeCopy {
		return c, fmt.Errorf("mode %d: must be ModeAuto, ModeZeroCopy or ModeCopy: %w", int(c.Mode), ErrInvalidConfig)
	}
	return c, nil
}

// Socket is one AF_XDP socket bound to one RX/TX queue of one interface, with
// its rings and (unless shared) its UMEM.
//
// A Socket is single-owner: after Open, one goroutine calls its data-path
// methods (Receive, Refill, Transmit, Complete, Poll, Stats). Close may be
// called from another goroutine only once that one has stopped. Wake is the
// exception: any goroutine may call it, at any time.
type Socket struct {
	// fd is the AF_XDP socket; -1 once closed. Written by Open and Close.
	fd      int
	ifindex int
	queue   int
	// mode is the mode the kernel granted. Written once by Open.
	mode Mode
	// needWakeup records whether XDP_USE_NEED_WAKEUP is in effect.
	needWakeup bool
	// alwaysKick is set when the TX ring's flag cannot be trusted to ask
	// for a kick: copy mode (TX only moves inside sendto) or need_wakeup
	// off. Written once by Open.
	alwaysKick bool
	umem       *UMEM
	// The rings and LANA's tally. The rings' shared indices live in maps;
	// the rest is owned by the socket's goroutine.
	userRings
	// maps are the rings' mmaps: fill, completion, rx, tx.
	maps [4][]byte
	// pfd and ts are Poll's syscall arguments, kept here so that Poll does
	// not allocate: the socket, then the wake eventfd.
	pfd [2]unix.PollFd
	ts  unix.Timespec
	// wmu orders Wake (read lock) against Close (write lock), so that Wake
	// never writes to a closed (and perhaps reused) descriptor.
	wmu sync.RWMutex
	// efd is the eventfd that Wake writes and Poll waits on besides the
	// socket; -1 when not open. Written by Open and Close under wmu.
	efd int
}

// Open creates an AF_XDP socket on queue of the interface ifindex, in the
// calling thread's network namespace, and binds it. On error every fd and
// mapping made so far is released.
//
// Received frames reach the socket only through an XDP program that
// redirects into it (Program.Register). Open hands no frames to the fill
// ring: Refill them (UMEM().FrameAddrs) before expecting packets.
func Open(ifindex int, queue int, cfg Config) (_ *Socket, err error) {
	cfg, err = cfg.validate()
	if err != nil {
		return nil, fmt.Errorf("open xsk: %w", err)
	}
	if err := checkQueue(ifindex, queue); err != nil {
		return nil, fmt.Errorf("open xsk: %w", err)
	}
	if sh := cfg.Shared; sh != nil {
		if err := sh.checkShare(ifindex, queue, cfg.Mode); err != nil {
			return nil, fmt.Errorf("open xsk: %w", err)
		}
	}
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open xsk: socket: %w", err)
	}
	s := &Socket{fd: fd, ifindex: ifindex, queue: queue, efd: -1}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	owner := cfg.Shared == nil
	if owner {
		if err := s.newUMEM(cfg); err != nil {
			return nil, fmt.Errorf("open xsk: %w", err)
		}
	} else {
		s.umem = cfg.Shared
		s.umem.acquire()
	}
	if err := s.setupRings(cfg); err != nil {
		return nil, fmt.Errorf("open xsk: %w", err)
	}
	if err := s.bind(cfg, owner); err != nil {
		return nil, fmt.Errorf("open xsk: %w", err)
	}
	opts, err := xdpOptions(fd)
	if err != nil {
		return nil, fmt.Errorf("open xsk: read XDP_OPTIONS: %w", err)
	}
	s.mode = ModeCopy
	if opts&unix.XDP_OPTIONS_ZEROCOPY != 0 {
		s.mode = ModeZeroCopy
	}
	if owner {
		s.umem.mu.Lock()
		s.umem.ownerFD, s.umem.ifindex, s.umem.queue = fd, ifindex, queue
		s.umem.needWakeup, s.umem.mode = s.needWakeup, s.mode
		s.umem.mu.Unlock()
	}
	s.alwaysKick = s.mode == ModeCopy || !s.needWakeup
	// Copy mode sends at most a budget of frames per sendto (32 by
	// default); raise it to the ring size where the kernel allows
	// (6.17+), so that one kick drains the TX ring. Best effort.
	_ = setUint32(fd, unix.XDP_MAX_TX_SKB_BUDGET, cfg.TXSize)
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open xsk: eventfd: %w", err)
	}
	s.efd = efd
	s.pfd = [2]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(efd), Events: unix.POLLIN}}
	return s, nil
}

// checkQueue looks the interface up by netlink in the calling thread's
// namespace (sysfs would show the namespace it was mounted in) and checks
// queue against its RX queue count.
func checkQueue(ifindex, queue int) error {
	if ifindex <= 0 {
		return fmt.Errorf("interface index %d: must be positive: %w", ifindex, ErrNoInterface)
	}
	link, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("interface index %d: %w", ifindex, ErrNoInterface)
		}
		return fmt.Errorf("interface index %d: %w", ifindex, err)
	}
	a := link.Attrs()
	if n := a.NumRxQueues; n > 0 && (queue < 0 || queue >= n) {
		return fmt.Errorf("queue %d on %s: must be in 0..%d (%d RX queues): %w", queue, a.Name, n-1, n, ErrQueueRange)
	}
	if queue < 0 {
		return fmt.Errorf("queue %d on %s: must not be negative: %w", queue, a.Name, ErrQueueRange)
	}
	return nil
}

// newUMEM maps and registers the socket's own UMEM.
func (s *Socket) newUMEM(cfg Config) error {
	size := int(cfg.UMEM.FrameCount) * int(cfg.UMEM.FrameSize)
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("map umem of %d bytes: %w", size, err)
	}
	u := newUMEM(mem, cfg.UMEM)
	u.release = unix.Munmap
	u.refs = 1
	s.umem = u
	if err := registerUMEM(s.fd, mem, cfg.UMEM, 0); err != nil {
		return fmt.Errorf("register umem: %w", err)
	}
	return nil
}

// setupRings sizes the four rings, maps them and lays the ring views over the
// mappings. It runs before bind, as the kernel requires.
func (s *Socket) setupRings(cfg Config) error {
	for _, o := range []struct {
		opt  int
		name string
		size uint32
	}{
		{unix.XDP_UMEM_FILL_RING, "fill", cfg.UMEM.FillSize},
		{unix.XDP_UMEM_COMPLETION_RING, "completion", cfg.UMEM.CompletionSize},
		{unix.XDP_RX_RING, "rx", cfg.RXSize},
		{unix.XDP_TX_RING, "tx", cfg.TXSize},
	} {
		if err := setUint32(s.fd, o.opt, o.size); err != nil {
			return fmt.Errorf("size %s ring to %d: %w", o.name, o.size, err)
		}
	}
	off, err := mmapOffsets(s.fd)
	if err != nil {
		return fmt.Errorf("read ring offsets: %w", err)
	}
	for i, m := range []struct {
		name     string
		pgoff    int64
		off      unix.XDPRingOffset
		size     uint32
		descSize int
		init     func(string, []byte, RingOffsets, uint32) error
	}{
		{"fill", unix.XDP_UMEM_PGOFF_FILL_RING, off.Fr, cfg.UMEM.FillSize, 8, s.fill.init},
		{"completion", unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, cfg.UMEM.CompletionSize, 8, s.comp.init},
		{"rx", unix.XDP_PGOFF_RX_RING, off.Rx, cfg.RXSize, 16, s.rx.init},
		{"tx", unix.XDP_PGOFF_TX_RING, off.Tx, cfg.TXSize, 16, s.tx.init},
	} {
		ro := RingOffsets{Producer: m.off.Producer, Consumer: m.off.Consumer, Flags: m.off.Flags, Desc: m.off.Desc}
		mem, err := unix.Mmap(s.fd, m.pgoff, RingBytes(ro, m.size, m.descSize),
			unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return fmt.Errorf("map %s ring: %w", m.name, err)
		}
		s.maps[i] = mem
		if err := m.init(m.name, mem, ro, m.size); err != nil {
			return err
		}
	}
	return nil
}

// bind binds the socket to its queue, falling back from zero-copy to copy
// mode under ModeAuto.
func (s *Socket) bind(cfg Config, owner bool) error {
	sa := &unix.SockaddrXDP{Ifindex: uint32(s.ifindex), QueueID: uint32(s.queue)}
	if !owner {
		// The kernel takes no mode or wakeup flags with a shared UMEM:
		// both follow the UMEM's first socket.
		sa.Flags = unix.XDP_SHARED_UMEM
		u := cfg.Shared
		u.mu.Lock()
		sa.SharedUmemFD = uint32(u.ownerFD)
		s.needWakeup = u.needWakeup
		u.mu.Unlock()
		if err := bindRetry(s.fd, sa); err != nil {
			return fmt.Errorf("bind to ifindex %d queue %d with shared umem: %w", s.ifindex, s.queue, err)
		}
		return nil
	}
	var wake uint16
	if !cfg.DisableNeedWakeup {
		wake = unix.XDP_USE_NEED_WAKEUP
	}
	s.needWakeup = wake != 0
	try := func(mode uint16) error {
		sa.Flags = mode | wake
		return bindRetry(s.fd, sa)
	}
	switch cfg.Mode {
	case ModeCopy:
		if err := try(unix.XDP_COPY); err != nil {
			return fmt.Errorf("bind to ifindex %d queue %d in copy mode: %w", s.ifindex, s.queue, err)
		}
	case ModeZeroCopy:
		if err := try(unix.XDP_ZEROCOPY); err != nil {
			if errors.Is(err, unix.EOPNOTSUPP) {
				err = ErrZeroCopyUnsupported
			}
			return fmt.Errorf("bind to ifindex %d queue %d in zero-copy mode: %w", s.ifindex, s.queue, err)
		}
	default:
		err := try(unix.XDP_ZEROCOPY)
		if errors.Is(err, unix.EOPNOTSUPP) {
			err = try(unix.XDP_COPY)
		}
		if err != nil {
			return fmt.Errorf("bind to ifindex %d queue %d: %w", s.ifindex, s.queue, err)
		}
	}
	return nil
}

// bindBusyWait bounds how long bind retries a busy queue.
const bindBusyWait = time.Second

// bindRetry binds, retrying while the queue is busy for up to bindBusyWait:
// the kernel frees a closed socket's hold on its queue asynchronously (after
// an RCU grace period), so closing a socket and opening another on the same
// queue would otherwise fail with EBUSY at random. A queue held by a live
// socket still fails, after the wait.
func bindRetry(fd int, sa *unix.SockaddrXDP) error {
	deadline := time.Now().Add(bindBusyWait)
	for {
		err := unix.Bind(fd, sa)
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Close unbinds the socket and releases its rings, its fd and its share of
// the UMEM (unmapped with its last socket). It is idempotent. Frames the
// caller still holds become invalid.
func (s *Socket) Close() error {
	if s.fd < 0 {
		return nil
	}
	var errs []error
	for i, m := range s.maps {
		if m != nil {
			if err := unix.Munmap(m); err != nil {
				errs = append(errs, fmt.Errorf("unmap ring: %w", err))
			}
			s.maps[i] = nil
		}
	}
	s.fill, s.comp, s.rx, s.tx = FillRing{}, CompletionRing{}, RXRing{}, TXRing{}
	fd := s.fd
	s.fd = -1
	if err := unix.Close(fd); err != nil {
		errs = append(errs, fmt.Errorf("close xsk: %w", err))
	}
	s.wmu.Lock()
	if s.efd >= 0 {
		if err := unix.Close(s.efd); err != nil {
			errs = append(errs, fmt.Errorf("close wake eventfd: %w", err))
		}
		s.efd = -1
	}
	s.wmu.Unlock()
	if s.umem != nil {
		if err := s.umem.drop(fd); err != nil {
			errs = append(errs, fmt.Errorf("unmap umem: %w", err))
		}
	}
	return errors.Join(errs...)
}

// FD returns the socket's file descriptor, for Program.Register; -1 once
// closed.
func (s *Socket) FD() int { return s.fd }

// Mode returns the mode the kernel granted: ModeZeroCopy or ModeCopy.
func (s *Socket) Mode() Mode { return s.mode }

// UMEM returns the socket's UMEM (its own or the shared one).
func (s *Socket) UMEM() *UMEM { return s.umem }

// Ifindex returns the interface index the socket is bound to.
func (s *Socket) Ifindex() int { return s.ifindex }

// Queue returns the queue the socket is bound to.
func (s *Socket) Queue() int { return s.queue }

// NeedWakeup reports whether XDP_USE_NEED_WAKEUP is in effect: the kernel
// flags the fill and TX rings when it must be woken, and the socket wakes it
// only then (Transmit, Poll). On copy-mode drivers the TX ring is kicked
// regardless, since copy-mode TX only runs inside sendto.
func (s *Socket) NeedWakeup() bool { return s.needWakeup }

// FillRing returns the socket's fill ring.
func (s *Socket) FillRing() *FillRing { return &s.fill }

// CompletionRing returns the socket's completion ring.
func (s *Socket) CompletionRing() *CompletionRing { return &s.comp }

// RXRing returns the socket's RX ring.
func (s *Socket) RXRing() *RXRing { return &s.rx }

// TXRing returns the socket's TX ring.
func (s *Socket) TXRing() *TXRing { return &s.tx }

// Receive takes up to len(descs) received descriptors and returns how many.
// The frames they name are the caller's until handed back with Refill (or
// sent with Transmit).
func (s *Socket) Receive(descs []Desc) int { return s.receive(descs) }

// Backlog reports how many received descriptors wait on the RX ring. It
// reads the kernel's producer index only when the descriptors seen last
// are all taken.
func (s *Socket) Backlog() int { return s.backlog() }

// Refill hands frames to the kernel through the fill ring and returns how
// many fitted; the caller keeps the rest.
func (s *Socket) Refill(addrs []uint64) int { return s.refill(addrs) }

// Transmit queues descs on the TX ring, kicks the kernel when it needs it, and
// returns how many descriptors fitted; the caller keeps the rest. The frames
// come back through Complete once sent.
func (s *Socket) Transmit(descs []Desc) int {
	n := s.produceTX(descs)
	if n > 0 {
		s.kickTX()
	}
	return n
}

// kickTX wakes the kernel's TX processing if it needs it.
func (s *Socket) kickTX() {
	if !s.alwaysKick && !s.tx.NeedWakeup() {
		return
	}
	s.counters.kicks++
	switch e := kick(s.fd); e {
	case 0, unix.EAGAIN, unix.EBUSY, unix.ENOBUFS:
		// Transient: the ring keeps the descriptors and a later kick
		// (from Transmit or Complete) sends them.
	default:
		s.counters.kickErrors++
	}
}

// Complete takes up to len(addrs) addresses of sent frames from the
// completion ring and returns how many; those frames are the caller's again.
// Where TX needs kicks and descriptors are still waiting on the TX ring (the
// kernel sends a limited budget per kick, or the completion ring was full),
// it kicks again.
func (s *Socket) Complete(addrs []uint64) int {
	n := s.consumeCompletions(addrs)
	if s.tx.r.unconsumed() > 0 {
		s.kickTX()
	}
	return n
}

// Poll waits up to timeout (negative: forever; zero: no wait) for received
// descriptors or a Wake, and reports whether there are descriptors. It
// returns at once when the RX ring already holds descriptors, or when Wake
// was called since the last Poll (each Wake ends at most one Poll). When the
// fill ring asks for a wakeup, the poll itself wakes the driver. Poll is the
// only data-path method that may block. An interrupted wait reports false,
// nil.
func (s *Socket) Poll(timeout time.Duration) (bool, error) {
	if s.fd < 0 {
		return false, ErrSocketClosed
	}
	s.counters.polls++
	if s.rx.Ready() > 0 {
		return true, nil
	}
	if s.needWakeup && s.fill.NeedWakeup() {
		s.counters.fillWakeups++
	}
	ts := &s.ts
	if timeout < 0 {
		ts = nil
	} else {
		s.ts = unix.NsecToTimespec(int64(timeout))
	}
	ok, woken, e := pollIn(&s.pfd, ts)
	if woken {
		s.counters.woken++
		drainEvent(s.efd) // the owner polls, so Close has not run: efd is open
	}
	switch e {
	case 0:
		return ok || s.rx.Ready() > 0, nil
	case unix.EINTR:
		return false, nil
	}
	return false, fmt.Errorf("poll xsk: %w", e)
}

// Wake makes the Poll that sleeps now, or else the next one, return at once
// (several Wakes before it end just that one). Safe from any goroutine, even
// during or after Close (ErrSocketClosed then). It costs a write(2) on an
// eventfd: call it only when the owner is known to sleep in Poll.
func (s *Socket) Wake() error {
	s.wmu.RLock()
	defer s.wmu.RUnlock()
	if s.efd < 0 {
		return ErrSocketClosed
	}
	if e := signalEvent(s.efd); e != 0 {
		return fmt.Errorf("wake xsk: %w", e)
	}
	return nil
}
