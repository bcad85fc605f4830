package blocks

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync/atomic"

	"github.com/lana-net/lana/engine"
)

func init() { engine.Register("vlink", func() engine.Block { return &VLink{} }) }

// vlink constants.
const (
	// VLinkEtherTypeBase is the ethertype of vlink port 0; port p travels as
	// VLinkEtherTypeBase|p.
	VLinkEtherTypeBase = 0xAC00
	// VLinkMaxPort is the highest vlink port (ports are 10 bits).
	VLinkMaxPort = 1023
	// vlinkDefaultMTU bounds the payload of a frame sent down a vlink.
	vlinkDefaultMTU = 1500
)

// Drop reasons of VLink, in Info().Reasons order.
const (
	vlinkDropShort      = iota // shorter than an Ethernet header
	vlinkDropOtherPort         // ingress frame of another ethertype
	vlinkDropNoHeadroom        // strip=true egress: no room to push the header
	vlinkDropTooLong           // egress payload beyond mtu
)

// VLink is a virtual Ethernet link over a real NIC queue (LANA's ethvlink):
// its frames carry ethertype 0xAC00|port on the wire. Several vlinks share
// one eth block through eth's ethertype outputs, one output per port:
//
//	add e0 eth type.v5=0xac05 type.v6=0xac06
//	add v5 vlink port=5
//	bind e0:v5 v5
//
// Ingress: a frame whose ethertype (after eth's VLAN tags, as eth found
// them in Packet.L3) is 0xAC00|port goes on up with Packet.Port and
// EtherType set; any other frame is dropped as "other-port" (a binding
// mistake: eth routed the wrong ethertype here). By default the Ethernet
// header stays on the frame, so the blocks and applications above see the
// peer's address and can answer it; Packet.L3 still points at the payload.
// With strip=true the header is pulled off (LANA's original behaviour: the
// stack above sees the payload only) and Packet.L3 becomes 0.
//
// Egress: with the header kept, a frame from above must start with an
// Ethernet header (14 bytes, or more with VLAN tags); the vlink writes its
// ethertype 0xAC00|port, and the source and destination addresses when the
// src/dst/dev options give them (otherwise the frame's own stay). With
// strip=true it pushes a new 14-byte header: dst (default broadcast), src
// (from src or dev) and the ethertype. The frame then continues down to eth,
// which transmits it.
//
// Steering: VLink is an engine.Steerer asking for 0xAC00|port, so lanad
// steers that ethertype to LANA while the vlink is reachable from the
// hooked block (see engine.Graph.EtherTypes).
//
// Options:
//   - port=N     required, 0..1023.
//   - strip=false  pull the Ethernet header on ingress, push one on egress.
//   - src=MAC, dst=MAC  addresses written on egress (see above).
//   - dev=IFNAME the root device: its address is the default src, and a TAP
//     device's carrier follows its link state.
//   - mtu=1500   largest payload sent (64..65535): longer egress frames are
//     dropped as "too-long"; also the TAP's MTU.
//   - tap=NAME   show the vlink as a TAP device (see tap.go); needs the
//     header kept (strip=false).
//
// Outputs: none beyond continue. Drop reasons: "short", "other-port",
// "no-headroom", "too-long". Counters: Counts (received and sent packets
// and bytes, TAP counters).
type VLink struct {
	// Set by Configure, read-only afterwards.
	port      uint16
	etherType uint16
	strip     bool
	src, dst  [6]byte
	haveSrc   bool
	haveDst   bool
	dev       string
	mtu       int
	tapName   string

	// Set by Start (and TakeState), read by workers.
	rx, tx  *perWorker // rx extra: copies the TAP queue had no room for
	workers int

	// tap is the TAP device, nil until Connect makes it or TakeState adopts
	// the replaced instance's. Stored by the control plane, loaded by
	// workers once per vector.
	tap atomic.Pointer[tapLink]
}

// Configure parses the options, reporting every error.
func (l *VLink) Configure(opts engine.Options) error {
	p := engine.NewOptionParser(opts)
	if _, ok := opts["port"]; !ok {
		p.Fail("port", "", fmt.Sprintf("is required: the vlink port 0..%d (ethertype 0x%04X|port)", VLinkMaxPort, VLinkEtherTypeBase))
	}
	l.port = uint16(p.Uint("port", 0, 0, VLinkMaxPort))
	l.etherType = VLinkEtherTypeBase | l.port
	l.strip = p.Bool("strip", false)
	if m := p.MAC("src"); m != nil {
		copy(l.src[:], m)
		l.haveSrc = true
		if m[0]&1 != 0 {
			p.Fail("src", opts["src"], "must be a unicast address")
		}
	}
	l.dst = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	if m := p.MAC("dst"); m != nil {
		copy(l.dst[:], m)
		l.haveDst = true
	}
	l.dev = p.String("dev", "")
	if len(l.dev) > 15 {
		p.Fail("dev", l.dev, "must be an interface name of at most 15 characters")
	}
	l.mtu = int(p.Uint("mtu", vlinkDefaultMTU, 64, 65535))
	l.tapName = p.String("tap", "")
	if l.tapName != "" {
		if len(l.tapName) > 15 {
			p.Fail("tap", l.tapName, "must be an interface name of at most 15 characters")
		}
		if l.strip {
			p.Fail("tap", l.tapName, "needs strip=false: a TAP device carries whole Ethernet frames")
		}
	}
	if l.strip && !l.haveSrc && l.dev == "" {
		p.Fail("strip", "true", "needs src=MAC or dev=IFNAME: the pushed header needs a source address")
	}
	return p.Err()
}

// Info reports no outputs and the drop reasons.
func (l *VLink) Info() engine.Info {
	return engine.Info{Reasons: []string{"short", "other-port", "no-headroom", "too-long"}}
}

// Start allocates the counters and resolves dev's address when src is not
// given (dev must exist in lanad's network namespace).
func (l *VLink) Start(env engine.Env) error {
	if l.dev != "" && !l.haveSrc {
		ifc, err := net.InterfaceByName(l.dev)
		if err != nil {
			return fmt.Errorf("vlink %s: dev %s: %w", env.Name, l.dev, err)
		}
		if len(ifc.HardwareAddr) != 6 {
			return fmt.Errorf("vlink %s: dev %s: has no Ethernet address", env.Name, l.dev)
		}
		copy(l.src[:], ifc.HardwareAddr)
		l.haveSrc = true
	}
	l.workers = max(env.Workers, 1)
	l.rx, l.tx = newPerWorker(l.workers), newPerWorker(l.workers)
	return nil
}

// TakeState adopts the replaced vlink's counters (by reference: each worker
// runs either the old or the new block) and, when the TAP settings are
// unchanged, its TAP device, which then lives until both have closed.
func (l *VLink) TakeState(old engine.Block) {
	o, ok := old.(*VLink)
	if !ok {
		return
	}
	if len(o.rx.c) == len(l.rx.c) {
		l.rx, l.tx = o.rx, o.tx
	}
	if t := o.tap.Load(); t != nil && l.tapName != "" && t.same(l) {
		t.acquire()
		l.tap.Store(t)
	}
}

// EtherTypes makes VLink an engine.Steerer: it needs 0xAC00|port.
func (l *VLink) EtherTypes() []uint16 { return []uint16{l.etherType} }

// Port returns the vlink port.
func (l *VLink) Port() uint16 { return l.port }

// Process decapsulates (ingress) or encapsulates (egress) v.
func (l *VLink) Process(v *engine.Vector) {
	t := l.tap.Load()
	if v.Dir == engine.Egress {
		l.egress(v)
		return
	}
	var n, bytes, tapFull uint64
	for i := range v.Pkts {
		p := &v.Pkts[i]
		d := p.Data()
		hl := max(int(p.L3), ethHeaderLen)
		if len(d) < hl {
			v.Drop(i, vlinkDropShort)
			continue
		}
		if binary.BigEndian.Uint16(d[hl-2:]) != l.etherType {
			v.Drop(i, vlinkDropOtherPort)
			continue
		}
		p.EtherType, p.Port, p.L3 = l.etherType, l.port, uint16(hl)
		n++
		bytes += uint64(len(d))
		if t != nil && !t.deliver(d) {
			tapFull++
		}
		if l.strip {
			p.Pull(hl)
			p.L3 = 0
		}
	}
	l.rx.add(v.Worker, n, bytes, tapFull)
}

func (l *VLink) egress(v *engine.Vector) {
	var n, bytes uint64
	for i := range v.Pkts {
		p := &v.Pkts[i]
		if l.strip {
			if p.Len() > l.mtu {
				v.Drop(i, vlinkDropTooLong)
				continue
			}
			d, ok := p.Push(ethHeaderLen)
			if !ok {
				v.Drop(i, vlinkDropNoHeadroom)
				continue
			}
			copy(d[0:6], l.dst[:])
			copy(d[6:12], l.src[:])
			binary.BigEndian.PutUint16(d[12:14], l.etherType)
		} else {
			d := p.Data()
			off, ok := typeOffset(d)
			if !ok {
				v.Drop(i, vlinkDropShort)
				continue
			}
			if len(d)-off-2 > l.mtu {
				v.Drop(i, vlinkDropTooLong)
				continue
			}
			if l.haveDst {
				copy(d[0:6], l.dst[:])
			}
			if l.haveSrc {
				copy(d[6:12], l.src[:])
			}
			binary.BigEndian.PutUint16(d[off:], l.etherType)
		}
		p.EtherType, p.Port = l.etherType, l.port
		n++
		bytes += uint64(p.Len())
	}
	l.tx.add(v.Worker, n, bytes, 0)
}

// typeOffset returns the offset of the ethertype field of frame d, after at
// most two VLAN tags; false when d is too short.
func typeOffset(d []byte) (int, bool) {
	off := 12
	for range 2 {
		if len(d) < off+2 {
			return 0, false
		}
		if t := binary.BigEndian.Uint16(d[off:]); t != etherTypeQ && t != etherTypeAD {
			return off, true
		}
		off += vlanTagLen
	}
	if len(d) < off+2 {
		return 0, false
	}
	return off, true
}

// VLinkCounts are a vlink's counters, summed over workers.
type VLinkCounts struct {
	// RxPackets and RxBytes went up the vlink (its port's frames).
	RxPackets, RxBytes uint64
	// TxPackets and TxBytes went down the vlink, encapsulated.
	TxPackets, TxBytes uint64
	// TAP counters; zero without tap.
	TAP TAPCounts
}

// Counts returns the vlink's counters. Safe from any goroutine.
func (l *VLink) Counts() VLinkCounts {
	var c VLinkCounts
	var full uint64
	c.RxPackets, c.RxBytes, full = l.rx.sum()
	c.TxPackets, c.TxBytes, _ = l.tx.sum()
	if t := l.tap.Load(); t != nil {
		c.TAP = t.counts()
	}
	c.TAP.RxQueueFull += full
	return c
}

// Close releases the vlink's share of its TAP device.
func (l *VLink) Close() error {
	if t := l.tap.Load(); t != nil {
		return t.release()
	}
	return nil
}

// Counters implements engine.Reporter; the tap_ keys are zero without tap.
func (l *VLink) Counters() map[string]uint64 {
	c := l.Counts()
	return map[string]uint64{
		"rx_packets": c.RxPackets, "rx_bytes": c.RxBytes, "tx_packets": c.TxPackets, "tx_bytes": c.TxBytes,
		"tap_rx_written": c.TAP.RxWritten, "tap_rx_queue_full": c.TAP.RxQueueFull,
		"tap_rx_write_errors": c.TAP.RxWriteErrors, "tap_tx_sent": c.TAP.TxSent,
		"tap_tx_foreign": c.TAP.TxForeign, "tap_tx_no_frame": c.TAP.TxNoFrame,
		"tap_tx_queue_full": c.TAP.TxQueueFull,
	}
}
