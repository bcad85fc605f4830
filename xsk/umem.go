package xsk

import (
	"fmt"
	"math/bits"
	"sync"
)

// UMEM defaults and limits.
const (
	// DefaultFrameSize is the frame size used when UMEMConfig.FrameSize is 0.
	DefaultFrameSize = 4096
	// DefaultFrameCount is the frame count used when UMEMConfig.FrameCount is 0.
	DefaultFrameCount = 4096
	// MaxFrameCount bounds UMEMConfig.FrameCount (16 GiB of 4 KiB frames).
	MaxFrameCount = 1 << 22
	// PacketHeadroom is XDP_PACKET_HEADROOM: the kernel keeps this many
	// bytes in front of a received packet, after the UMEM's own Headroom.
	PacketHeadroom = 256
)

// UMEMConfig shapes a UMEM: the frames packets live in and the fill and
// completion rings that pass frames between userspace and the kernel. A zero
// field takes the default named in its comment.
type UMEMConfig struct {
	// FrameSize is the size of one frame, 2048 or 4096 (default 4096).
	FrameSize uint32
	// FrameCount is the number of frames, 1 to MaxFrameCount (default 4096).
	FrameCount uint32
	// Headroom is reserved at the start of each received frame, before
	// the kernel's own PacketHeadroom; it must leave room for a packet:
	// Headroom < FrameSize - PacketHeadroom. Default 0.
	Headroom uint32
	// FillSize is the fill ring's size, a power of two up to MaxRingSize
	// (default DefaultRingSize).
	FillSize uint32
	// CompletionSize is the completion ring's size, a power of two up to
	// MaxRingSize (default DefaultRingSize).
	CompletionSize uint32
}

// withDefaults returns c with zero fields set to their defaults.
func (c UMEMConfig) withDefaults() UMEMConfig {
	if c.FrameSize == 0 {
		c.FrameSize = DefaultFrameSize
	}
	if c.FrameCount == 0 {
		c.FrameCount = DefaultFrameCount
	}
	if c.FillSize == 0 {
		c.FillSize = DefaultRingSize
	}
	if c.CompletionSize == 0 {
		c.CompletionSize = DefaultRingSize
	}
	return c
}

// Validate reports the first rule c breaks (after defaults), or nil. Errors
// wrap ErrInvalidConfig.
func (c UMEMConfig) Validate() error {
	c = c.withDefaults()
	if c.FrameSize != 2048 && c.FrameSize != 4096 {
		return fmt.Errorf("frame size %d: must be 2048 or 4096: %w", c.FrameSize, ErrInvalidConfig)
	}
	if c.FrameCount > MaxFrameCount {
		return fmt.Errorf("frame count %d: must be at most %d: %w", c.FrameCount, MaxFrameCount, ErrInvalidConfig)
	}
	if c.Headroom >= c.FrameSize-PacketHeadroom {
		return fmt.Errorf("headroom %d with frame size %d: must be below frame size - %d (XDP_PACKET_HEADROOM): %w",
			c.Headroom, c.FrameSize, PacketHeadroom, ErrInvalidConfig)
	}
	if err := checkRingSize("fill", c.FillSize); err != nil {
		return err
	}
	return checkRingSize("completion", c.CompletionSize)
}

// UMEM is the memory packets live in: FrameCount frames of FrameSize bytes,
// addressed by their byte offset from the start. A UMEM made by Open is
// mmapped and registered with the kernel; one made by NewMemQueue is plain Go
// memory.
//
// A UMEM may be shared by several sockets (Config.Shared); its memory is
// released when the last of them closes. Frames are not tracked: which
// socket owns which frame is the users' business (hand each socket its own
// share of FrameAddrs).
type UMEM struct {
	// mem is the frames' memory. Written once at creation; the bytes are
	// written by the kernel (RX) and by frame owners.
	mem []byte
	// cfg is the validated configuration with defaults. Written once.
	cfg UMEMConfig
	// frameMask is FrameSize-1. Written once.
	frameMask uint64
	// frameShift is log2(FrameSize). Written once.
	frameShift uint

	// mu guards the sharing state below; Open and Close take it, the
	// data path never does.
	mu sync.Mutex
	// ownerFD is the socket the UMEM is registered on, -1 once that
	// socket is closed (or for Go memory).
	ownerFD int
	// needWakeup and zeroCopy record how the registering socket was bound,
	// which sharing sockets inherit.
	needWakeup bool
	mode       Mode
	// ifindex and queue are where the registering socket is bound.
	ifindex, queue int
	// refs counts the sockets using the memory.
	refs int
	// release frees mem when refs drops to zero (munmap); nil for Go memory.
	release func([]byte) error
}

// newUMEM wraps mem, which must hold cfg.FrameCount*cfg.FrameSize bytes, for
// an already validated cfg with defaults.
func newUMEM(mem []byte, cfg UMEMConfig) *UMEM {
	return &UMEM{
		mem:        mem,
		cfg:        cfg,
		frameMask:  uint64(cfg.FrameSize - 1),
		frameShift: uint(bits.TrailingZeros32(cfg.FrameSize)),
		ownerFD:    -1,
	}
}

// Config returns the UMEM's configuration, defaults filled in.
func (u *UMEM) Config() UMEMConfig { return u.cfg }

// Size returns the UMEM's size in bytes.
func (u *UMEM) Size() int { return len(u.mem) }

// FrameSize returns the size of one frame.
func (u *UMEM) FrameSize() uint32 { return u.cfg.FrameSize }

// FrameCount returns the number of frames.
func (u *UMEM) FrameCount() uint32 { return u.cfg.FrameCount }

// Frame returns the length bytes at addr, a slice into the UMEM (no copy)
// whose capacity stops at the end of addr's frame. It panics if the range
// leaves the frame. The slice is valid while the frame is owned by the caller
// (between Receive and Refill, or between filling it and Transmit).
func (u *UMEM) Frame(addr uint64, length uint32) []byte {
	end := (addr | u.frameMask) + 1
	return u.mem[addr : addr+uint64(length) : end]
}

// FrameAddr returns the address of frame i, 0 <= i < FrameCount.
func (u *UMEM) FrameAddr(i uint32) uint64 { return uint64(i) << u.frameShift }

// FrameBase returns the address of the frame holding addr: what to Refill
// with after receiving a descriptor at addr.
func (u *UMEM) FrameBase(addr uint64) uint64 { return addr &^ u.frameMask }

// FrameIndex returns the index of the frame holding addr.
func (u *UMEM) FrameIndex(addr uint64) uint32 { return uint32(addr >> u.frameShift) }

// RXCapacity returns the largest packet the kernel can receive into one
// frame: FrameSize - Headroom - PacketHeadroom.
func (u *UMEM) RXCapacity() uint32 { return u.cfg.FrameSize - u.cfg.Headroom - PacketHeadroom }

// FrameAddrs returns the addresses of frames first to first+n-1, to hand to
// the fill ring at start-up or to split the UMEM between sockets. It
// allocates; it is not for the data path.
func (u *UMEM) FrameAddrs(first, n uint32) []uint64 {
	if uint64(first)+uint64(n) > uint64(u.cfg.FrameCount) {
		panic(fmt.Sprintf("xsk: frames %d..%d outside a UMEM of %d frames", first, uint64(first)+uint64(n)-1, u.cfg.FrameCount))
	}
	addrs := make([]uint64, n)
	for i := range addrs {
		addrs[i] = u.FrameAddr(first + uint32(i))
	}
	return addrs
}

// acquire adds a user of the memory.
func (u *UMEM) acquire() {
	u.mu.Lock()
	u.refs++
	u.mu.Unlock()
}

// drop removes a user of the memory; the last one frees it. If fd was the
// registering socket, the UMEM can no longer be shared.
func (u *UMEM) drop(fd int) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if fd >= 0 && fd == u.ownerFD {
		u.ownerFD = -1
	}
	u.refs--
	if u.refs > 0 || u.release == nil {
		return nil
	}
	mem := u.mem
	u.mem = nil
	return u.release(mem)
}

// checkShare reports whether a new socket on ifindex/queue may share u.
func (u *UMEM) checkShare(ifindex, queue int, mode Mode) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ownerFD < 0 {
		return fmt.Errorf("share umem: its first socket is closed: %w", ErrUMEMClosed)
	}
	if u.ifindex == ifindex && u.queue == queue {
		return fmt.Errorf("share umem on ifindex %d queue %d: must be another queue or interface than the first socket's: %w",
			ifindex, queue, ErrInvalidConfig)
	}
	if mode != ModeAuto && mode != u.mode {
		return fmt.Errorf("share umem in %s mode: must be auto or the first socket's mode (%s): %w", mode, u.mode, ErrInvalidConfig)
	}
	return nil
}
