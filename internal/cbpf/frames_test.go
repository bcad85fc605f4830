package cbpf

import (
	"math/rand/v2"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// testFrames returns crafted frames of every kind the filters look at
// (UDP/TCP/ICMP/SCTP over IPv4 and IPv6, IPv4 fragments and options, IPv6
// fragment headers, one and two VLAN tags, ARP/RARP, other ethertypes),
// every one also truncated at random points, plus random byte strings.
// Addresses are in 198.18.0.0/15 and 2001:db8::/32.
//
// Frames [0, whole) are complete, [whole, 2*whole) their truncated copies,
// the rest noise.
func testFrames(t testing.TB, rng *rand.Rand) (frames [][]byte, whole int) {
	t.Helper()
	macA, _ := net.ParseMAC("02:00:00:00:00:01")
	macB, _ := net.ParseMAC("02:00:00:00:00:02")
	bcast, _ := net.ParseMAC("ff:ff:ff:ff:ff:ff")
	v4 := []net.IP{net.IPv4(198, 18, 0, 1), net.IPv4(198, 18, 0, 2), net.IPv4(198, 19, 1, 7), net.IPv4(198, 18, 1, 200)}
	v6 := []net.IP{net.ParseIP("2001:db8::1"), net.ParseIP("2001:db8::2"), net.ParseIP("2001:db8:0:1::5"), net.ParseIP("2001:db9::1")}
	ports := []uint16{7, 9, 22, 53, 80, 443, 999, 1000, 1500, 2000, 2001, 65535}
	pick := func(n int) int { return rng.IntN(n) }
	payload := func() gopacket.Payload {
		if pick(4) == 0 {
			return make(gopacket.Payload, 100+pick(100))
		}
		return make(gopacket.Payload, pick(40))
	}

	var out [][]byte
	ser := func(ls ...gopacket.SerializableLayer) {
		buf := gopacket.NewSerializeBuffer()
		opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: false}
		if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
			t.Fatalf("serialize: %v", err)
		}
		out = append(out, append([]byte(nil), buf.Bytes()...))
	}
	// eth returns the link layers: Ethernet plus 0, 1 or 2 VLAN tags.
	eth := func(et layers.EthernetType) []gopacket.SerializableLayer {
		dst := macB
		if pick(4) == 0 {
			dst = bcast
		}
		src := macA
		if pick(2) == 0 {
			src, dst = dst, src
		}
		e := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: et}
		switch pick(4) {
		case 0:
			e.EthernetType = layers.EthernetTypeDot1Q
			return []gopacket.SerializableLayer{e, &layers.Dot1Q{VLANIdentifier: uint16([]int{5, 100, 4095}[pick(3)]), Type: et}}
		case 1:
			e.EthernetType = layers.EthernetTypeQinQ
			return []gopacket.SerializableLayer{e,
				&layers.Dot1Q{VLANIdentifier: 5, Type: layers.EthernetTypeDot1Q},
				&layers.Dot1Q{VLANIdentifier: uint16([]int{0, 5, 100}[pick(3)]), Type: et}}
		}
		return []gopacket.SerializableLayer{e}
	}
	for range 2000 {
		var l4 []gopacket.SerializableLayer
		proto := []layers.IPProtocol{layers.IPProtocolUDP, layers.IPProtocolTCP, layers.IPProtocolICMPv4,
			layers.IPProtocolICMPv6, layers.IPProtocolSCTP, 47}[pick(6)]
		sp, dp := ports[pick(len(ports))], ports[pick(len(ports))]
		switch proto {
		case layers.IPProtocolUDP:
			l4 = []gopacket.SerializableLayer{&layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}, payload()}
		case layers.IPProtocolTCP:
			l4 = []gopacket.SerializableLayer{&layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), SYN: true, Window: 1024}, payload()}
		case layers.IPProtocolICMPv4:
			l4 = []gopacket.SerializableLayer{&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, payload()}
		case layers.IPProtocolICMPv6:
			l4 = []gopacket.SerializableLayer{gopacket.Payload{128, 0, 0, 0, 0, 1, 0, 1}}
		default: // SCTP, GRE: ports in the first 4 bytes as for SCTP
			l4 = []gopacket.SerializableLayer{gopacket.Payload{byte(sp >> 8), byte(sp), byte(dp >> 8), byte(dp), 0, 0, 0, 0, 0, 0, 0, 0}}
		}
		switch pick(5) {
		case 0, 1, 2: // IPv4, sometimes a fragment, sometimes with options
			ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: v4[pick(len(v4))], DstIP: v4[pick(len(v4))]}
			if pick(5) == 0 {
				ip.Flags, ip.FragOffset = layers.IPv4MoreFragments, uint16(pick(2)*185)
			}
			if pick(4) == 0 {
				ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
			}
			ser(append(append(eth(layers.EthernetTypeIPv4), ip), l4...)...)
		case 3: // IPv6, sometimes through a fragment header
			ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: v6[pick(len(v6))], DstIP: v6[pick(len(v6))]}
			if pick(3) == 0 {
				ip.NextHeader = layers.IPProtocolIPv6Fragment
				frag := gopacket.Payload{byte(proto), 0, 0, byte(pick(2)), 0, 0, 0, 1}
				ser(append(append(eth(layers.EthernetTypeIPv6), ip, frag), l4...)...)
				continue
			}
			ser(append(append(eth(layers.EthernetTypeIPv6), ip), l4...)...)
		default: // ARP, RARP or an unrelated ethertype
			et := []layers.EthernetType{layers.EthernetTypeARP, 0x8035, 0x88cc}[pick(3)]
			arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
				HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
				SourceHwAddress: macA, SourceProtAddress: v4[pick(len(v4))].To4(),
				DstHwAddress: make([]byte, 6), DstProtAddress: v4[pick(len(v4))].To4()}
			ser(append(eth(et), arp)...)
		}
	}
	n := len(out)
	for i := range n { // truncations: every load boundary gets hit
		f := out[i]
		out = append(out, f[:pick(len(f)+1)])
	}
	for range 200 { // noise
		f := make([]byte, pick(100))
		for j := range f {
			f[j] = byte(rng.Uint32())
		}
		out = append(out, f)
	}
	return out, n
}
