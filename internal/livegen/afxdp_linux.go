package livegen

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/lana-net/lana/internal/frames"
	"github.com/lana-net/lana/internal/goyield"
	"github.com/lana-net/lana/xsk"
)

// AF_XDP generator shape: one UMEM frame per descriptor in flight, so the
// TX ring, the completion ring and the frames all have the same size.
const (
	afxdpFrameSize = 2048
	afxdpRing      = 2048
	// afxdpDrain bounds how long Run waits for the kernel to complete the
	// last descriptors after the run ended.
	afxdpDrain = time.Second
)

// AFXDP sends frames through one of LANA's AF_XDP sockets (package xsk): the
// frames are copied into the socket's UMEM once, at the start of Run, and
// then only descriptors move: Transmit a chunk, Complete what the kernel
// sent, reuse those frames. With Frame.Seq the sending thread stamps the
// sequence number into the frame before it transmits it.
//
// Run, and everything on its path, belongs to the sending thread; Sent may be
// read from any goroutine.
type AFXDP struct {
	cfg   Config
	tmpls [][]byte // one frame per flow, copied into the UMEM by Run
	off   frames.Offsets
	sent  uint64Counter
	ran   bool

	// Owned by the sending thread during Run.
	nframes   uint64     // UMEM frames used: a multiple of Frame.Flows
	queued    uint64     // descriptors handed to the TX ring
	completed uint64     // descriptors the kernel handed back
	descs     []xsk.Desc // Transmit's scratch, Chunk long
	addrs     []uint64   // Complete's scratch
	mode      xsk.Mode
}

// NewAFXDP validates cfg and builds the frames. The socket is opened by Run,
// inside the namespace, on cfg.Queue of cfg.Ifindex.
func NewAFXDP(cfg Config) (*AFXDP, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Chunk > afxdpRing {
		return nil, fmt.Errorf("%w: chunk %d: must be at most the TX ring size %d", ErrConfig, cfg.Chunk, afxdpRing)
	}
	if cfg.Queue < 0 {
		return nil, fmt.Errorf("%w: queue %d: must not be negative", ErrConfig, cfg.Queue)
	}
	spec := cfg.Frame
	spec.ZeroUDPChecksum = spec.ZeroUDPChecksum || spec.Seq
	if spec.Flows > afxdpRing {
		return nil, fmt.Errorf("%w: %d flows: afxdp sends at most %d", ErrConfig, spec.Flows, afxdpRing)
	}
	tmpls, err := frames.Build(spec, spec.Flows)
	if err != nil {
		return nil, fmt.Errorf("build frames: %w", err)
	}
	return &AFXDP{
		cfg: cfg, tmpls: tmpls, off: spec.Offsets(),
		nframes: uint64(afxdpRing / spec.Flows * spec.Flows),
		descs:   make([]xsk.Desc, cfg.Chunk),
		addrs:   make([]uint64, afxdpRing),
	}, nil
}

// Sent returns the frames handed to the TX ring so far; any goroutine.
func (g *AFXDP) Sent() uint64 { return g.sent.load() }

// Mode is the AF_XDP mode the kernel granted (copy on veth); valid after Run.
func (g *AFXDP) Mode() xsk.Mode { return g.mode }

// Run opens the socket in cfg's namespace and sends on a locked thread pinned
// to cfg.CPU. When the count, the duration or ctx ends the run, it waits (up
// to a second) until the kernel has completed every descriptor, so that
// Result.Sent frames have left when Run returns. A frame the kernel completes
// without sending (a veth whose peer's ring is full) is invisible here: the
// sending veth's tx_dropped counter shows it, so RefusedKnown is false.
func (g *AFXDP) Run(ctx context.Context) (Result, error) {
	if g.ran {
		return Result{}, fmt.Errorf("%w: a generator runs once", ErrConfig)
	}
	g.ran = true
	l := &loop{cfg: g.cfg, sent: &g.sent}
	var elapsed time.Duration
	var consumed uint64
	err := g.cfg.onThread(func() error {
		s, err := xsk.Open(g.cfg.Ifindex, g.cfg.Queue, xsk.Config{
			UMEM: xsk.UMEMConfig{FrameSize: afxdpFrameSize, FrameCount: afxdpRing,
				FillSize: 64, CompletionSize: afxdpRing},
			RXSize: 64, TXSize: afxdpRing,
		})
		if err != nil {
			return fmt.Errorf("afxdp generator: %w", err)
		}
		defer s.Close()
		g.mode = s.Mode()
		g.load(s.UMEM())
		elapsed, consumed, err = l.run(ctx, func(n uint32) (uint32, error) {
			return g.send(ctx, s, n, &l.yield), nil
		})
		if err != nil {
			return err
		}
		return g.drain(s)
	})
	res := result("afxdp", g.sent.load(), len(g.tmpls[0]), elapsed, consumed)
	return res, err
}

// load copies the templates into the UMEM: frame j holds flow j%Flows.
func (g *AFXDP) load(u *xsk.UMEM) {
	flen := uint32(len(g.tmpls[0]))
	for j := range g.nframes {
		copy(u.Frame(u.FrameAddr(uint32(j)), flen), g.tmpls[j%uint64(len(g.tmpls))])
	}
}

// send queues n frames and returns how many it queued: n unless ctx ended
// while the ring stayed full. Frame i of the run goes out of UMEM frame
// i%nframes, which holds flow i%Flows because nframes is a multiple of
// Flows; the kernel completes descriptors in the order it got them, so that
// frame is free once completed reaches i-nframes+1. While the ring stays
// full it yields on y, the sending loop's timer. Sending thread only.
func (g *AFXDP) send(ctx context.Context, s *xsk.Socket, n uint32, y *goyield.Timer) uint32 {
	u := s.UMEM()
	flen := uint32(len(g.tmpls[0]))
	var done uint32
	for spins := 0; done < n; spins++ {
		g.completed += uint64(s.Complete(g.addrs))
		free := g.nframes - (g.queued - g.completed)
		want := min(uint64(n-done), free)
		for k := range want {
			i := g.queued + k
			addr := u.FrameAddr(uint32(i % g.nframes))
			if g.cfg.Frame.Seq {
				binary.BigEndian.PutUint64(u.Frame(addr, flen)[g.off.Payload:], i)
			}
			g.descs[k] = xsk.Desc{Addr: addr, Len: flen}
		}
		got := s.Transmit(g.descs[:want])
		g.queued += uint64(got)
		done += uint32(got)
		if got == 0 && spins%1024 == 1023 {
			if ctx.Err() != nil {
				break
			}
			y.Maybe()
		}
	}
	return done
}

// drain waits for the completion of every queued descriptor.
func (g *AFXDP) drain(s *xsk.Socket) error {
	deadline := time.Now().Add(afxdpDrain)
	for g.completed < g.queued {
		g.completed += uint64(s.Complete(g.addrs))
		if time.Now().After(deadline) {
			return fmt.Errorf("afxdp generator: %d of %d frames not completed after %v",
				g.queued-g.completed, g.queued, afxdpDrain)
		}
	}
	return nil
}

// Close releases nothing: the socket lives only during Run. It exists so
// every Generator can be closed the same way.
func (g *AFXDP) Close() error { return nil }
