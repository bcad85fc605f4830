package livegen

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lana-net/lana/internal/frames"
)

// AFPacket sends frames through an AF_PACKET socket with PACKET_QDISC_BYPASS,
// one write per frame: the kernel socket baseline.
type AFPacket struct {
	cfg     Config
	tmpls   [][]byte // one frame per flow; the sending thread patches seq
	off     frames.Offsets
	sent    uint64Counter
	refused uint64
	ran     bool
}

// NewAFPacket validates cfg and builds the frames. The socket is opened by
// Run, inside the namespace.
func NewAFPacket(cfg Config) (*AFPacket, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	spec := cfg.Frame
	spec.ZeroUDPChecksum = spec.ZeroUDPChecksum || spec.Seq
	tmpls, err := frames.Build(spec, spec.Flows)
	if err != nil {
		return nil, fmt.Errorf("build frames: %w", err)
	}
	return &AFPacket{cfg: cfg, tmpls: tmpls, off: spec.Offsets()}, nil
}

// Sent returns the frames the kernel accepted so far; any goroutine.
func (g *AFPacket) Sent() uint64 { return g.sent.load() }

// Run opens the socket in cfg's namespace and sends on a locked thread pinned
// to cfg.CPU. Writes that fail with ENOBUFS or EAGAIN are counted in
// Result.Refused and do not count as sent.
func (g *AFPacket) Run(ctx context.Context) (Result, error) {
	if g.ran {
		return Result{}, fmt.Errorf("%w: a generator runs once", ErrConfig)
	}
	g.ran = true
	l := &loop{cfg: g.cfg, sent: &g.sent}
	var elapsed time.Duration
	var consumed uint64
	err := g.cfg.onThread(func() error {
		fd, err := openPacket(g.cfg.Ifindex)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		var i uint64
		elapsed, consumed, err = l.run(ctx, func(n uint32) (uint32, error) {
			var ok uint32
			for range n {
				f := g.tmpls[i%uint64(len(g.tmpls))]
				if g.cfg.Frame.Seq {
					binary.BigEndian.PutUint64(f[g.off.Payload:], i)
				}
				if _, err := unix.Write(fd, f); err != nil {
					if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) {
						g.refused++
						continue
					}
					return ok, fmt.Errorf("write to ifindex %d: %w", g.cfg.Ifindex, err)
				}
				i++
				ok++
			}
			return ok, nil
		})
		return err
	})
	res := result("afpacket", g.sent.load(), len(g.tmpls[0]), elapsed, consumed)
	res.Refused, res.RefusedKnown = g.refused, true
	return res, err
}

// openPacket returns an AF_PACKET socket bound to ifindex for sending only
// (protocol 0: it receives nothing), bypassing the qdisc layer.
func openPacket(ifindex int) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open packet socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("packet socket: qdisc bypass: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind packet socket to ifindex %d: %w", ifindex, err)
	}
	return fd, nil
}

// Close releases nothing: the socket lives only during Run. It exists so
// every Generator can be closed the same way.
func (g *AFPacket) Close() error { return nil }
