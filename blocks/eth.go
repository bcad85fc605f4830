package blocks

import (
	"encoding/binary"
	"sort"
	"strconv"
	"strings"

	"github.com/lana-net/lana/engine"
)

func init() { engine.Register("eth", func() engine.Block { return &Eth{} }) }

// Ethernet constants.
const (
	ethHeaderLen = 14
	vlanTagLen   = 4
	etherTypeQ   = 0x8100 // 802.1Q
	etherTypeAD  = 0x88a8 // 802.1ad outer tag
)

// Drop reasons of Eth, in Info().Reasons order.
const (
	ethDropShort    = iota // shorter than its headers
	ethDropSource          // multicast or all-zero source MAC
	ethDropNotForUs        // destination filter refused it
)

// Eth is the block attached to a NIC queue: on ingress it parses Ethernet
// with up to two 802.1Q/802.1ad tags, drops frames with an invalid source
// MAC (multicast or all zeros), optionally filters by destination MAC, and
// demultiplexes by ethertype to named outputs; on egress it transmits on the
// packet's queue without a copy.
//
// Options:
//   - mac=02:..:01   the interface's address; default none (no filter).
//   - promisc=false  with mac set, false accepts only frames to mac,
//     broadcast or multicast; true accepts every destination.
//   - type.NAME=0xHHHH  adds output NAME for ethertype 0xHHHH (e.g.
//     type.ipv4=0x0800); outputs are sorted by NAME. Frames of other
//     ethertypes continue on the ingress port.
//
// Outputs: one per type.NAME option. Verdicts: ingress continue, output k
// or drop; egress transmit. Drop reasons: "short", "bad-src", "not-for-us".
// Sets Packet.EtherType, VLAN and L3 (offset of the network header).
type Eth struct {
	mac     [6]byte
	filter  bool // mac set and not promiscuous
	outputs []string
	types   []uint16 // types[k] goes to output k
}

// Configure parses mac, promisc and type.* options, reporting every error.
func (e *Eth) Configure(opts engine.Options) error {
	p := engine.NewOptionParser(opts)
	mac := p.MAC("mac")
	promisc := p.Bool("promisc", false)
	if mac != nil {
		copy(e.mac[:], mac)
		e.filter = !promisc
	}
	seen := map[uint64]string{}
	for _, kv := range p.Prefix("type.") {
		name, val := kv[0], kv[1]
		hex, isHex := strings.CutPrefix(val, "0x")
		t, err := strconv.ParseUint(hex, 16, 16)
		if !isHex || err != nil || t < 0x0600 {
			p.Fail("type."+name, val, "must be an ethertype 0x0600..0xffff in hex")
			continue
		}
		if name == "" {
			p.Fail("type.", val, "needs an output name")
			continue
		}
		if other, dup := seen[t]; dup {
			p.Fail("type."+name, val, "ethertype already routed to output "+other)
			continue
		}
		seen[t] = name
		e.outputs = append(e.outputs, name)
		e.types = append(e.types, uint16(t))
	}
	sort.Sort(byName{e})
	return p.Err()
}

type byName struct{ e *Eth }

func (b byName) Len() int           { return len(b.e.outputs) }
func (b byName) Less(i, j int) bool { return b.e.outputs[i] < b.e.outputs[j] }
func (b byName) Swap(i, j int) {
	b.e.outputs[i], b.e.outputs[j] = b.e.outputs[j], b.e.outputs[i]
	b.e.types[i], b.e.types[j] = b.e.types[j], b.e.types[i]
}

// Info reports the demux outputs and the drop reasons; Eth parses the
// header in place and never changes a packet's length.
func (e *Eth) Info() engine.Info {
	return engine.Info{Outputs: e.outputs, Reasons: []string{"short", "bad-src", "not-for-us"}, KeepsLength: true}
}

// Start does nothing: Eth has no per-worker state.
func (e *Eth) Start(engine.Env) error { return nil }

// Process parses (ingress) or transmits (egress) v.
func (e *Eth) Process(v *engine.Vector) {
	if v.Dir == engine.Egress {
		for i := range v.Pkts {
			v.Transmit(i)
		}
		return
	}
	// Addresses are compared as little-endian words: equality and zero
	// need no byte order, and the loads need no swap.
	macLo := binary.LittleEndian.Uint32(e.mac[0:4])
	macHi := binary.LittleEndian.Uint16(e.mac[4:6])
	filter, types := e.filter, e.types
	pkts := v.Pkts
	for i := range pkts {
		p := &pkts[i]
		d := p.Data()
		if len(d) < ethHeaderLen {
			v.Drop(i, ethDropShort)
			continue
		}
		h := d[:ethHeaderLen]
		if h[6]&1 != 0 || binary.LittleEndian.Uint32(h[6:10])|uint32(binary.LittleEndian.Uint16(h[10:12])) == 0 {
			v.Drop(i, ethDropSource)
			continue
		}
		if filter && h[0]&1 == 0 &&
			(binary.LittleEndian.Uint32(h[0:4]) != macLo || binary.LittleEndian.Uint16(h[4:6]) != macHi) {
			v.Drop(i, ethDropNotForUs)
			continue
		}
		t, vlan, l3 := binary.BigEndian.Uint16(h[12:14]), uint16(0), uint16(ethHeaderLen)
		if t == etherTypeQ || t == etherTypeAD {
			var ok bool
			if t, vlan, l3, ok = untag(d); !ok {
				v.Drop(i, ethDropShort)
				continue
			}
		}
		p.EtherType, p.VLAN, p.L3 = t, vlan, l3
		for k, et := range types {
			if et == t {
				v.Output(i, k)
				break
			}
		}
	}
}

// untag parses the up to two 802.1Q/802.1ad tags of d, a frame whose
// ethertype field says tagged, and returns the inner ethertype, the inner
// tag's VLAN id and the network header's offset; ok is false when a tag is
// cut short or a third tag follows. Kept out of Process's loop, which then
// holds the untagged case in registers.
func untag(d []byte) (t, vlan, l3 uint16, ok bool) {
	off := 12
	t = binary.BigEndian.Uint16(d[off:])
	for n := 0; n < 2 && (t == etherTypeQ || t == etherTypeAD); n++ {
		if len(d) < off+2+vlanTagLen {
			break
		}
		vlan = binary.BigEndian.Uint16(d[off+2:]) & 0x0fff
		off += vlanTagLen
		t = binary.BigEndian.Uint16(d[off:])
	}
	if t == etherTypeQ || t == etherTypeAD {
		return 0, 0, 0, false
	}
	return t, vlan, uint16(off + 2), true
}

// Close does nothing.
func (e *Eth) Close() error { return nil }
