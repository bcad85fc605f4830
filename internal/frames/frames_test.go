package frames

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func TestBuildUDPDefaults(t *testing.T) {
	fs, err := Build(Spec{Flows: 4, Seq: true}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 10 {
		t.Fatalf("got %d frames, want 10", len(fs))
	}
	off := Spec{}.Offsets()
	for i, f := range fs {
		if len(f) != 60 {
			t.Fatalf("frame %d: %d bytes, want 60 (64 on the wire minus FCS)", i, len(f))
		}
		pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		if el := pkt.ErrorLayer(); el != nil {
			t.Fatalf("frame %d: decode: %v", i, el.Error())
		}
		eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if eth.SrcMAC.String() != DefaultSrcMAC.String() || eth.DstMAC.String() != DefaultDstMAC.String() {
			t.Errorf("frame %d: MACs %v -> %v", i, eth.SrcMAC, eth.DstMAC)
		}
		ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		for _, a := range [][]byte{ip.SrcIP, ip.DstIP} {
			addr, _ := netip.AddrFromSlice(a)
			if !BenchNet.Contains(addr) {
				t.Errorf("frame %d: address %v outside %v", i, addr, BenchNet)
			}
		}
		if ip.Length != 46 || ip.TTL != 64 {
			t.Errorf("frame %d: IP length %d ttl %d", i, ip.Length, ip.TTL)
		}
		udp := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if want := layers.UDPPort(DefaultSrcPort + i%4); udp.SrcPort != want {
			t.Errorf("frame %d: source port %d, want %d", i, udp.SrcPort, want)
		}
		if udp.DstPort != DefaultDstPort || udp.Length != 26 {
			t.Errorf("frame %d: dst port %d length %d", i, udp.DstPort, udp.Length)
		}
		if udp.Checksum == 0 {
			t.Errorf("frame %d: UDP checksum not computed", i)
		}
		if seq, ok := SeqAt(f, off); !ok || seq != uint64(i) {
			t.Errorf("frame %d: seq %d ok=%v", i, seq, ok)
		}
		if !PatternOK(f, off) {
			t.Errorf("frame %d: payload pattern broken", i)
		}
	}
}

func TestUDPChecksumVerifies(t *testing.T) {
	f, err := BuildOne(Spec{Size: 128, Seq: true}, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(f) != 124 {
		t.Fatalf("len %d, want 124", len(f))
	}
	// The ones' complement sum over pseudo-header and UDP segment is 0xffff
	// when the checksum is right.
	seg := f[34:]
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(f[26:34]) // source and destination address
	sum += 17 + uint32(len(seg))
	add(seg)
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	if sum != 0xffff {
		t.Fatalf("UDP checksum does not verify: folded sum %#x", sum)
	}
	z, err := BuildOne(Spec{ZeroUDPChecksum: true}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if o := (Spec{}).Offsets().UDPChecksum; z[o] != 0 || z[o+1] != 0 {
		t.Fatalf("ZeroUDPChecksum left %x", z[o:o+2])
	}
}

func TestBuildVlink(t *testing.T) {
	fs, err := Build(Spec{Vlink: true, VlinkPort: 0x3ff, Seq: true, Size: 100}, 3)
	if err != nil {
		t.Fatal(err)
	}
	off := Spec{Vlink: true}.Offsets()
	for i, f := range fs {
		if len(f) != 96 {
			t.Fatalf("frame %d: %d bytes, want 96", i, len(f))
		}
		if et := uint16(f[12])<<8 | uint16(f[13]); et != 0xAFFF {
			t.Errorf("frame %d: ethertype %#x, want 0xafff", i, et)
		}
		if seq, ok := SeqAt(f, off); !ok || seq != uint64(i) {
			t.Errorf("frame %d: seq %d", i, seq)
		}
		if !PatternOK(f, off) {
			t.Errorf("frame %d: payload pattern broken", i)
		}
	}
	f, err := BuildOne(Spec{Vlink: true, VlinkPort: 5}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if et := uint16(f[12])<<8 | uint16(f[13]); et != 0xAC05 {
		t.Errorf("ethertype %#x, want 0xac05", et)
	}
}

func TestValidate(t *testing.T) {
	out := netip.MustParseAddr("10.0.0.1")
	edge := netip.MustParseAddr("198.19.255.255")
	cases := []struct {
		name string
		spec Spec
		want error
	}{
		{"src outside", Spec{SrcIP: out}, ErrAddress},
		{"dst outside", Spec{DstIP: netip.MustParseAddr("198.20.0.1")}, ErrAddress},
		{"ipv6", Spec{DstIP: netip.MustParseAddr("2001:db8::1"), AllowAnyAddress: true}, ErrAddress},
		{"allow any", Spec{SrcIP: out, AllowAnyAddress: true}, nil},
		{"edge of range", Spec{SrcIP: edge}, nil},
		{"too small", Spec{Size: 63}, ErrSize},
		{"too big", Spec{Size: 1519}, ErrSize},
		{"port overflow", Spec{SrcPort: 65535, Flows: 2}, ErrSpec},
		{"vlink port", Spec{Vlink: true, VlinkPort: 1024}, ErrSpec},
		{"vlink ignores IP", Spec{Vlink: true, SrcIP: out}, nil},
	}
	for _, c := range cases {
		err := c.spec.Validate()
		if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		if _, berr := Build(c.spec, 1); (berr == nil) != (c.want == nil) {
			t.Errorf("%s: Build error %v disagrees with Validate", c.name, berr)
		}
	}
}
