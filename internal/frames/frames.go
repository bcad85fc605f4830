package frames

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Sizes and limits, in bytes.
const (
	// FCSLen is the length of the Ethernet frame check sequence, counted by
	// Spec.Size but absent from the built slices.
	FCSLen = 4
	// MinSize is the smallest frame on the wire (with FCS).
	MinSize = 64
	// MaxSize is the largest untagged frame on the wire (with FCS) at the
	// standard 1500-byte MTU.
	MaxSize = 1518
	// DefaultSize is Spec.Size's default: a minimum-size frame.
	DefaultSize = MinSize
	// SeqLen is the length of the sequence number at the start of the payload.
	SeqLen = 8

	ethLen  = 14
	ipv4Len = 20
	udpLen  = 8
)

// VlinkBase is the ethertype of LANA vlink port 0; port p uses VlinkBase|p.
const VlinkBase = 0xAC00

// MaxVlinkPort is the largest vlink port: ports have 10 bits.
const MaxVlinkPort = 1<<10 - 1

// BenchNet is the benchmarking range all addresses must lie in.
var BenchNet = netip.MustParsePrefix("198.18.0.0/15")

// Defaults used for zero fields of a Spec.
var (
	// DefaultSrcMAC and DefaultDstMAC are locally administered unicast
	// addresses.
	DefaultSrcMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
	DefaultDstMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}
	// DefaultSrcIP and DefaultDstIP lie in BenchNet.
	DefaultSrcIP = netip.AddrFrom4([4]byte{198, 18, 0, 1})
	DefaultDstIP = netip.AddrFrom4([4]byte{198, 18, 0, 2})
)

// Default ports used for zero fields of a Spec.
const (
	DefaultSrcPort = 1024
	DefaultDstPort = 9 // discard
)

// Errors returned by Spec.Validate and Build.
var (
	// ErrAddress: an IP address is outside BenchNet (or not IPv4).
	ErrAddress = errors.New("address outside 198.18.0.0/15")
	// ErrSize: Size is outside [MinSize, MaxSize].
	ErrSize = errors.New("frame size out of range")
	// ErrSpec: any other invalid field.
	ErrSpec = errors.New("invalid frame spec")
)

// Spec describes a set of frames. The zero value, after defaults, is one flow
// of 64-byte UDP frames from 198.18.0.1:1024 to 198.18.0.2:9.
type Spec struct {
	// SrcMAC and DstMAC default to DefaultSrcMAC and DefaultDstMAC.
	SrcMAC, DstMAC net.HardwareAddr
	// SrcIP and DstIP default to DefaultSrcIP and DefaultDstIP; both must be
	// IPv4 inside BenchNet unless AllowAnyAddress is set.
	SrcIP, DstIP netip.Addr
	// SrcPort and DstPort default to DefaultSrcPort and DefaultDstPort.
	// Flow f uses source port SrcPort+f.
	SrcPort, DstPort uint16
	// Flows is the number of flows (default 1); SrcPort+Flows-1 must fit in
	// 16 bits.
	Flows int
	// Size is the frame length on the wire including the FCS (default 64);
	// built slices are Size-FCSLen bytes.
	Size int
	// Vlink selects a LANA vlink frame (ethertype VlinkBase|VlinkPort, no
	// IP/UDP headers) instead of UDP.
	Vlink bool
	// VlinkPort is the 10-bit vlink port, used when Vlink is set.
	VlinkPort int
	// Seq writes frame i's index as a big-endian uint64 at the start of the
	// payload.
	Seq bool
	// ZeroUDPChecksum leaves the UDP checksum 0 ("none", valid for IPv4),
	// so a generator may rewrite ports or payload without fixing it.
	ZeroUDPChecksum bool
	// AllowAnyAddress lifts the BenchNet rule.
	AllowAnyAddress bool
}

// Offsets locates the fields a generator may rewrite in a built frame.
type Offsets struct {
	// SrcPort is the offset of the UDP source port, -1 for vlink frames.
	SrcPort int
	// UDPChecksum is the offset of the UDP checksum, -1 for vlink frames.
	UDPChecksum int
	// Payload is the offset of the payload (and of the sequence number).
	Payload int
}

// WithDefaults returns s with every zero field replaced by its default.
func (s Spec) WithDefaults() Spec {
	if s.SrcMAC == nil {
		s.SrcMAC = DefaultSrcMAC
	}
	if s.DstMAC == nil {
		s.DstMAC = DefaultDstMAC
	}
	if !s.SrcIP.IsValid() {
		s.SrcIP = DefaultSrcIP
	}
	if !s.DstIP.IsValid() {
		s.DstIP = DefaultDstIP
	}
	if s.SrcPort == 0 {
		s.SrcPort = DefaultSrcPort
	}
	if s.DstPort == 0 {
		s.DstPort = DefaultDstPort
	}
	if s.Flows == 0 {
		s.Flows = 1
	}
	if s.Size == 0 {
		s.Size = DefaultSize
	}
	return s
}

// Validate checks s after defaults and states the rule a bad field breaks.
func (s Spec) Validate() error {
	s = s.WithDefaults()
	if len(s.SrcMAC) != 6 || len(s.DstMAC) != 6 {
		return fmt.Errorf("%w: MAC addresses %v -> %v: must be 6 bytes", ErrSpec, s.SrcMAC, s.DstMAC)
	}
	if s.Size < MinSize || s.Size > MaxSize {
		return fmt.Errorf("%w: size %d: must be in [%d, %d] bytes including FCS", ErrSize, s.Size, MinSize, MaxSize)
	}
	if s.Flows < 1 || int(s.SrcPort)+s.Flows-1 > 0xffff {
		return fmt.Errorf("%w: %d flows from source port %d: need 1 or more and SrcPort+Flows-1 <= 65535",
			ErrSpec, s.Flows, s.SrcPort)
	}
	if s.Vlink {
		if s.VlinkPort < 0 || s.VlinkPort > MaxVlinkPort {
			return fmt.Errorf("%w: vlink port %d: must be in [0, %d]", ErrSpec, s.VlinkPort, MaxVlinkPort)
		}
		return nil
	}
	for _, a := range []netip.Addr{s.SrcIP, s.DstIP} {
		if !a.Is4() {
			return fmt.Errorf("%w: %v: must be IPv4", ErrAddress, a)
		}
		if !s.AllowAnyAddress && !BenchNet.Contains(a) {
			return fmt.Errorf("%w: %v: test traffic must stay in %v", ErrAddress, a, BenchNet)
		}
	}
	return nil
}

// Offsets returns where the rewritable fields of s's frames sit.
func (s Spec) Offsets() Offsets {
	if s.Vlink {
		return Offsets{SrcPort: -1, UDPChecksum: -1, Payload: ethLen}
	}
	return Offsets{SrcPort: ethLen + ipv4Len, UDPChecksum: ethLen + ipv4Len + 6, Payload: ethLen + ipv4Len + udpLen}
}

// Build returns n frames following s: frame i belongs to flow i%Flows and,
// with Seq, carries sequence number i. Each frame is its own slice of
// Size-FCSLen bytes. n < 1 builds one frame per flow.
func Build(s Spec, n int) ([][]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.WithDefaults()
	if n < 1 {
		n = s.Flows
	}
	out := make([][]byte, n)
	for i := range out {
		f, err := build(s, i)
		if err != nil {
			return nil, fmt.Errorf("build frame %d: %w", i, err)
		}
		out[i] = f
	}
	return out, nil
}

// BuildOne returns frame i of s (see Build).
func BuildOne(s Spec, i int) ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return build(s.WithDefaults(), i)
}

func build(s Spec, i int) ([]byte, error) {
	off := s.Offsets()
	payload := make([]byte, s.Size-FCSLen-off.Payload)
	for j := range payload {
		payload[j] = byte(j)
	}
	if s.Seq {
		binary.BigEndian.PutUint64(payload, uint64(i))
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	eth := &layers.Ethernet{SrcMAC: s.SrcMAC, DstMAC: s.DstMAC}
	var err error
	if s.Vlink {
		eth.EthernetType = layers.EthernetType(VlinkBase | s.VlinkPort)
		err = gopacket.SerializeLayers(buf, opts, eth, gopacket.Payload(payload))
	} else {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip := &layers.IPv4{
			Version: 4, IHL: 5, TTL: 64, Flags: layers.IPv4DontFragment,
			Protocol: layers.IPProtocolUDP,
			SrcIP:    s.SrcIP.AsSlice(), DstIP: s.DstIP.AsSlice(),
		}
		udp := &layers.UDP{
			SrcPort: layers.UDPPort(int(s.SrcPort) + i%s.Flows),
			DstPort: layers.UDPPort(s.DstPort),
		}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			return nil, err
		}
		err = gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(payload))
	}
	if err != nil {
		return nil, fmt.Errorf("serialize: %w", err)
	}
	f := buf.Bytes()
	if len(f) != s.Size-FCSLen {
		return nil, fmt.Errorf("serialize: got %d bytes, want %d", len(f), s.Size-FCSLen)
	}
	if s.ZeroUDPChecksum && !s.Vlink {
		f[off.UDPChecksum], f[off.UDPChecksum+1] = 0, 0
	}
	return f, nil
}

// SeqAt reads the sequence number of frame f built from a Spec with the
// given offsets; ok is false when f is too short to hold one.
func SeqAt(f []byte, off Offsets) (seq uint64, ok bool) {
	if len(f) < off.Payload+SeqLen {
		return 0, false
	}
	return binary.BigEndian.Uint64(f[off.Payload:]), true
}

// PatternOK reports whether the payload of f after the sequence number
// (which it skips whether or not Seq was set) still holds the fill pattern,
// i.e. the frame arrived intact.
func PatternOK(f []byte, off Offsets) bool {
	if len(f) < off.Payload+SeqLen {
		return false
	}
	p := f[off.Payload:]
	for j := SeqLen; j < len(p); j++ {
		if p[j] != byte(j) {
			return false
		}
	}
	return true
}
