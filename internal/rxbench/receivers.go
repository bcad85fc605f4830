package rxbench

import (
	"errors"
	"fmt"
	"time"

	"github.com/asavie/xdp"
	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/lana-net/lana/internal/goyield"
	"github.com/lana-net/lana/internal/xdpcount"
	"github.com/lana-net/lana/xsk"
)

// Ring and UMEM sizes shared by the AF_XDP receivers, so that LANA's socket
// and asavie/xdp's are measured on equal terms.
const (
	frameSize  = 2048
	frameCount = 4096
	ringSize   = 2048
	batch      = 64
)

// FrameSize, FrameCount and Batch are the UMEM frame size and count and the
// receive batch (the engine's vector size) of every AF_XDP receiver here; a
// receiver built elsewhere (a lanad process) uses them too, so that the rows
// compare.
const (
	FrameSize  = frameSize
	FrameCount = frameCount
	Batch      = batch
)

// Kernel receives with an xdpcount program: the kernel's XDP_DROP (the limit
// of this path) or XDP_PASS into the Linux stack, which drops the UDP frames
// for want of a listener.
type Kernel struct {
	// Action is xdpcount.Drop or xdpcount.Pass.
	Action  xdpcount.Action
	counter *xdpcount.Counter
}

// Name implements Receiver.
func (k *Kernel) Name() string {
	if k.Action == xdpcount.Pass {
		return "stack"
	}
	return "xdp-drop"
}

// Setup implements Receiver.
func (k *Kernel) Setup(ifindex int) (err error) {
	k.counter, err = xdpcount.Attach(k.Action, ifindex)
	return err
}

// PaceMap implements Receiver.
func (k *Kernel) PaceMap() *ebpf.Map { return k.counter.Map() }

// Loop implements Receiver: the kernel does the receiving, so it only waits.
func (k *Kernel) Loop(stop <-chan struct{}) error {
	<-stop
	return nil
}

// Consumed implements Receiver.
func (k *Kernel) Consumed() (uint64, error) { return k.counter.Count() }

// Drops implements Receiver: an XDP program that counts cannot miss.
func (k *Kernel) Drops() (Drops, error) { return Drops{}, nil }

// Close implements Receiver.
func (k *Kernel) Close() error {
	if k.counter == nil {
		return nil
	}
	return k.counter.Close()
}

// afxdp is what the two AF_XDP receivers share: LANA's XDP program steering
// every frame, and the frames taken published once per batch for pacing.
type afxdp struct {
	prog     *xsk.Program
	consumed *PaceCounter
	// touched is the XOR of every ethertype the loop read, stored when
	// the loop ends. Storing it keeps the loads: with a sink that went
	// nowhere, the compiler dropped them, and the loop never read a frame
	// (found 2026-11-26, after it had made these receivers look faster
	// than a LANA engine that parses every frame).
	touched uint16
}

func (a *afxdp) setupProgram(ifindex int) (err error) {
	if a.consumed, err = NewPaceCounter(); err != nil {
		return err
	}
	a.prog, err = xsk.NewProgram(xsk.ProgramConfig{Steering: xsk.Steering{All: true}})
	if err != nil {
		return err
	}
	if _, err := a.prog.Attach(ifindex); err != nil {
		return err
	}
	return nil
}

func (a *afxdp) close() error {
	var errs []error
	if a.prog != nil {
		errs = append(errs, a.prog.Close())
	}
	if a.consumed != nil {
		errs = append(errs, a.consumed.Close())
	}
	return errors.Join(errs...)
}

func (a *afxdp) PaceMap() *ebpf.Map        { return a.consumed.Map() }
func (a *afxdp) Consumed() (uint64, error) { return a.consumed.Load(), nil }

// WaitMode is what an AF_XDP receive loop does when its RX ring is empty.
type WaitMode int

const (
	// WaitPoll sleeps in poll(2) until the kernel signals frames.
	WaitPoll WaitMode = iota
	// WaitYield gives the CPU away with sched_yield(2) and looks again.
	WaitYield
	// WaitBusy spins.
	WaitBusy
)

// XSK receives with LANA's own AF_XDP socket: Receive a batch, touch each
// frame's ethertype, Refill the frames.
type XSK struct {
	afxdp
	// Wait says what the loop does when the RX ring is empty.
	Wait WaitMode
	sock *xsk.Socket
}

// Name implements Receiver.
func (x *XSK) Name() string {
	return [...]string{"lana-xsk", "lana-xsk-yield", "lana-xsk-busy"}[x.Wait]
}

// Setup implements Receiver.
func (x *XSK) Setup(ifindex int) (err error) {
	if err := x.setupProgram(ifindex); err != nil {
		return err
	}
	x.sock, err = xsk.Open(ifindex, 0, xsk.Config{
		UMEM:   xsk.UMEMConfig{FrameSize: frameSize, FrameCount: frameCount, FillSize: 2 * frameCount},
		RXSize: ringSize, TXSize: 64,
	})
	if err == nil {
		if got := x.sock.Refill(x.sock.UMEM().FrameAddrs(0, frameCount)); got != frameCount {
			err = fmt.Errorf("initial refill took %d of %d frames", got, frameCount)
		}
	}
	if err == nil {
		err = x.prog.Register(0, x.sock.FD())
	}
	if err != nil {
		return errors.Join(err, x.Close())
	}
	return nil
}

// Loop implements Receiver.
func (x *XSK) Loop(stop <-chan struct{}) error {
	s := x.sock
	u := s.UMEM()
	var descs [batch]xsk.Desc
	var addrs [batch]uint64
	var sink uint16
	y := goyield.New()
	for {
		n := s.Receive(descs[:])
		if n == 0 {
			select {
			case <-stop:
				x.touched = sink
				return nil
			default:
			}
			switch x.Wait {
			case WaitPoll:
				y.Maybe()
				if _, err := s.Poll(10 * time.Millisecond); err != nil {
					return err
				}
			case WaitYield:
				// Hand the CPU to the NAPI thread that shares it, without
				// the sleep and wakeup of poll(2).
				unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
			}
			continue
		}
		for i := 0; i < n; i++ {
			f := u.Frame(descs[i].Addr, descs[i].Len)
			sink ^= uint16(f[12])<<8 | uint16(f[13])
			addrs[i] = descs[i].Addr
		}
		// The fill ring holds twice the frames, so every frame fits.
		if got := s.Refill(addrs[:n]); got != n {
			return fmt.Errorf("refill took %d of %d frames", got, n)
		}
		x.consumed.Add(uint64(n))
	}
}

// Drops implements Receiver.
func (x *XSK) Drops() (Drops, error) {
	st, err := x.sock.KernelStats()
	if err != nil {
		return Drops{}, err
	}
	return Drops{FillRingEmpty: st.RxFillRingEmptyDescs, RingFull: st.RxRingFull,
		Other: st.RxDropped + st.RxInvalidDescs}, nil
}

// Close implements Receiver.
func (x *XSK) Close() error {
	var errs []error
	if x.sock != nil {
		errs = append(errs, x.sock.Close())
	}
	return errors.Join(append(errs, x.close())...)
}

// Asavie receives with github.com/asavie/xdp's socket, an independent Go
// AF_XDP implementation, registered in LANA's XDP program so that both
// receivers see the same kernel path and pacing.
type Asavie struct {
	afxdp
	sock *xdp.Socket
}

// Name implements Receiver.
func (a *Asavie) Name() string { return "asavie" }

// Setup implements Receiver.
func (a *Asavie) Setup(ifindex int) (err error) {
	if err := a.setupProgram(ifindex); err != nil {
		return err
	}
	a.sock, err = xdp.NewSocket(ifindex, 0, &xdp.SocketOptions{
		NumFrames: frameCount, FrameSize: frameSize,
		FillRingNumDescs: frameCount, CompletionRingNumDescs: 64,
		RxRingNumDescs: ringSize, TxRingNumDescs: 64,
	})
	if err == nil {
		a.sock.Fill(a.sock.GetDescs(a.sock.NumFreeFillSlots()))
		err = a.prog.Register(0, a.sock.FD())
	}
	if err != nil {
		return errors.Join(err, a.Close())
	}
	return nil
}

// Loop implements Receiver, the way asavie/xdp's examples receive.
func (a *Asavie) Loop(stop <-chan struct{}) error {
	s := a.sock
	var sink uint16
	// Without a yield now and then, lanabench's sysmon preempted the
	// generator 7,600 times a second in the lab's asavie row (384 with it).
	y := goyield.New()
	for {
		select {
		case <-stop:
			a.touched = sink
			return nil
		default:
		}
		if s.NumReceived() == 0 {
			y.Maybe()
			if _, _, err := s.Poll(10); err != nil {
				return err
			}
		}
		descs := s.Receive(batch)
		for _, d := range descs {
			f := s.GetFrame(d)
			sink ^= uint16(f[12])<<8 | uint16(f[13])
		}
		if len(descs) > 0 {
			s.Fill(descs)
			a.consumed.Add(uint64(len(descs)))
		}
	}
}

// Drops implements Receiver.
func (a *Asavie) Drops() (Drops, error) {
	st, err := a.sock.Stats()
	if err != nil {
		return Drops{}, err
	}
	k := st.KernelStats
	return Drops{FillRingEmpty: k.Rx_fill_ring_empty_descs, RingFull: k.Rx_ring_full,
		Other: k.Rx_dropped + k.Rx_invalid_descs}, nil
}

// Close implements Receiver.
func (a *Asavie) Close() error {
	var errs []error
	if a.sock != nil {
		errs = append(errs, a.sock.Close())
	}
	return errors.Join(append(errs, a.close())...)
}
