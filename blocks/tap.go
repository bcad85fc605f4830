package blocks

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lana-net/lana/engine"
)

// TAP sizing.
const (
	tapQueue   = 256 // frames waiting to be written to the TAP
	tapSendOff = 256 // data offset of a frame read from the TAP (headroom below it)
	// tapNoFrameWait bounds the reader's wait for a spare UMEM frame.
	tapNoFrameWait = 100 * time.Millisecond
	tapCarrierDt   = 250 * time.Millisecond
)

// TAPCounts are a vlink TAP device's counters. The device's own rx/tx
// statistics (ip -s link) count the same frames from the kernel's side: a
// frame the vlink received is one the TAP "received".
type TAPCounts struct {
	// RxWritten frames received on the vlink were written to the TAP.
	RxWritten uint64
	// RxQueueFull received frames were not copied for the TAP: its queue
	// was full or the frame longer than mtu (they still went up the vlink).
	RxQueueFull uint64
	// RxWriteErrors writes to the TAP failed (for example, it was down).
	RxWriteErrors uint64
	// TxSent frames read from the TAP went down the vlink's egress path.
	TxSent uint64
	// TxForeign frames read from the TAP were dropped: not the vlink's
	// ethertype (the kernel's own chatter: IPv6 ND, LLDP...).
	TxForeign uint64
	// TxNoFrame frames read from the TAP were dropped: no worker had a
	// spare UMEM frame within 100 ms (engine.Port.Alloc; the TAP sent
	// faster than the workers recycle frames), or the frame was longer
	// than a UMEM frame holds after the headroom.
	TxNoFrame uint64
	// TxQueueFull frames read from the TAP were dropped: the worker's
	// hand-off queue was full.
	TxQueueFull uint64
}

// umemFrame is a UMEM frame of a worker, allocated with engine.Port.Alloc.
type umemFrame struct {
	addr  uint64
	frame []byte // nil: none
}

// tapLink is a vlink's TAP device and its two goroutines: the writer
// empties queue into the device; the reader reads frames the kernel sends
// out of the device, copies each into a UMEM frame it allocates from a
// worker (engine.Port.Alloc, round-robin over the workers) and hands it to
// the vlink's egress path with engine.Port.Send. It is shared by the vlink
// instances that replace one another (refs), and closed by the last.
//
// Workers touch only free and queue (channels, non-blocking, no
// allocation); everything else is the TAP goroutines' or the control
// plane's.
type tapLink struct {
	name, dev string
	vport     uint16 // the vlink port
	mtu       int
	etherType uint16

	d       *tapDevice
	free    chan []byte // empty buffers for received frames
	queue   chan []byte // received frames to write to the device
	port    engine.Port // the vlink's: Alloc, Send, Free
	workers int
	// kept holds, per worker, a frame allocated but not sent (the frame
	// read was too long for it, or the worker's hand-off queue was full):
	// the reader's next frame for that worker uses it rather than Free,
	// which would meet the same full queue. Reader goroutine only; given
	// back by release after the reader stopped.
	kept []umemFrame

	mu   sync.Mutex // guards refs
	refs int

	stop chan struct{}
	wg   sync.WaitGroup

	rxWritten, rxWriteErr                   atomic.Uint64
	txSent, txForeign, txNoFrame, txQueFull atomic.Uint64
}

// Connect gives the vlink what its TAP device needs from the engine: a
// Port to allocate UMEM frames for the frames read from the TAP and send
// them down its egress path; it then creates the TAP
// device (in the calling thread's network namespace). Without tap, or when
// the TAP was adopted from the replaced instance, it does nothing. lanad
// calls it after every successful transaction; a vlink whose Connect was
// not called receives and sends normally but has no TAP device.
func (l *VLink) Connect(e *engine.Engine, name string) error {
	if l.tapName == "" || l.tap.Load() != nil {
		return nil
	}
	port, err := e.Port(name)
	if err != nil {
		return fmt.Errorf("vlink %s: %w", name, err)
	}
	t := &tapLink{name: l.tapName, dev: l.dev, vport: l.port, mtu: l.mtu, etherType: l.etherType,
		free: make(chan []byte, tapQueue), queue: make(chan []byte, tapQueue),
		port: port, workers: e.Workers(), kept: make([]umemFrame, e.Workers()),
		refs: 1, stop: make(chan struct{})}
	t.d, err = openTAP(l.tapName, l.mtu)
	if err != nil {
		return fmt.Errorf("vlink %s: %w", name, err)
	}
	devIndex := 0
	if l.dev != "" {
		if devIndex, err = t.d.ifIndex(l.dev); err != nil {
			t.d.Close()
			return fmt.Errorf("vlink %s: dev %s: %w", name, l.dev, err)
		}
	}
	for range tapQueue {
		t.free <- make([]byte, 0, l.mtu+ethHeaderLen+2*vlanTagLen)
	}
	t.wg.Add(3)
	go t.writer()
	go t.reader()
	go t.carrier(devIndex)
	l.tap.Store(t)
	return nil
}

// same reports whether vlink l would make the same TAP device as t.
func (t *tapLink) same(l *VLink) bool {
	return t.name == l.tapName && t.dev == l.dev && t.vport == l.port && t.mtu == l.mtu && t.workers == l.workers
}

func (t *tapLink) acquire() {
	t.mu.Lock()
	t.refs++
	t.mu.Unlock()
}

// release drops one instance's share; the last closes the device, stops
// the goroutines and gives a kept frame back to its worker.
func (t *tapLink) release() error {
	t.mu.Lock()
	t.refs--
	last := t.refs == 0
	t.mu.Unlock()
	if !last {
		return nil
	}
	close(t.stop)
	err := t.d.Close()
	t.wg.Wait()
	for w, k := range t.kept {
		if k.frame != nil {
			err = errors.Join(err, t.port.Free(w, k.addr))
		}
	}
	if err != nil {
		return fmt.Errorf("close tap %s: %w", t.name, err)
	}
	return nil
}

// deliver queues a copy of frame d for the device; false when no buffer is
// free or d is too long. Called by workers from Process.
func (t *tapLink) deliver(d []byte) bool {
	select {
	case b := <-t.free:
		if len(d) > cap(b) {
			t.free <- b
			return false
		}
		b = b[:len(d)]
		copy(b, d)
		t.queue <- b // as many slots as buffers: never blocks
		return true
	default:
		return false
	}
}

func (t *tapLink) writer() {
	defer t.wg.Done()
	for {
		select {
		case <-t.stop:
			return
		case b := <-t.queue:
			if _, err := t.d.Write(b); err != nil {
				t.rxWriteErr.Add(1)
			} else {
				t.rxWritten.Add(1)
			}
			t.free <- b[:0]
		}
	}
}

func (t *tapLink) reader() {
	defer t.wg.Done()
	buf := make([]byte, 65536)
	next := 0
	for {
		n, err := t.d.Read(buf)
		if err != nil {
			select {
			case <-t.stop:
				return
			default:
			}
			time.Sleep(10 * time.Millisecond) // a transient error: do not spin
			continue
		}
		f := buf[:n]
		off, ok := typeOffset(f)
		if !ok || binary.BigEndian.Uint16(f[off:]) != t.etherType {
			t.txForeign.Add(1)
			continue
		}
		w, s, ok := t.allocWaiting(&next)
		if !ok || n > len(s.frame)-tapSendOff {
			if ok {
				t.kept[w] = s
			}
			t.txNoFrame.Add(1)
			continue
		}
		copy(s.frame[tapSendOff:], f)
		if err := t.port.Send(w, s.addr, tapSendOff, uint32(n)); err != nil {
			t.kept[w] = s
			t.txQueFull.Add(1)
			continue
		}
		t.txSent.Add(1)
	}
}

// allocWaiting is alloc that waits, up to tapNoFrameWait, while no worker
// has a spare frame (they refill within a poll timeout): meanwhile the
// reader does not read, so the kernel queues the TAP's frames (its
// txqueuelen) rather than lanad dropping them. Reader only.
func (t *tapLink) allocWaiting(next *int) (int, umemFrame, bool) {
	w, s, ok := t.alloc(next)
	for d, waited := 20*time.Microsecond, time.Duration(0); !ok && waited < tapNoFrameWait; d = min(2*d, time.Millisecond) {
		select {
		case <-t.stop:
			return 0, umemFrame{}, false
		case <-time.After(d):
		}
		waited += d
		w, s, ok = t.alloc(next)
	}
	return w, s, ok
}

// alloc picks a frame, round-robin over the workers: a kept one first,
// else a fresh one from the worker's spare ring. Reader only.
func (t *tapLink) alloc(next *int) (int, umemFrame, bool) {
	for k := range t.workers {
		w := (*next + k) % t.workers
		s := t.kept[w]
		if s.frame != nil {
			t.kept[w] = umemFrame{}
		} else if s.addr, s.frame, _ = t.port.Alloc(w); s.frame == nil {
			continue
		}
		*next = w + 1
		return w, s, true
	}
	return 0, umemFrame{}, false
}

// carrier makes the TAP's carrier follow the root device's (index dev,
// polled), or keeps it on without a root device.
func (t *tapLink) carrier(dev int) {
	defer t.wg.Done()
	last := -1
	tick := time.NewTicker(tapCarrierDt)
	defer tick.Stop()
	for {
		on := true
		if dev != 0 {
			var err error
			if on, err = t.d.lowerUp(dev); err != nil {
				on = false
			}
		}
		v := 0
		if on {
			v = 1
		}
		if v != last {
			if t.d.setCarrier(on) == nil {
				last = v
			}
		}
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
	}
}

func (t *tapLink) counts() TAPCounts {
	return TAPCounts{RxWritten: t.rxWritten.Load(), RxWriteErrors: t.rxWriteErr.Load(),
		TxSent: t.txSent.Load(), TxForeign: t.txForeign.Load(), TxNoFrame: t.txNoFrame.Load(),
		TxQueueFull: t.txQueFull.Load()}
}
