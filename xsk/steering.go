package xsk

import (
	"fmt"
	"math/bits"
	"strings"
)

// LANA's vlink ethertypes: 0xAC00 | port, with a 10-bit port.
const (
	// LANAEtherTypeFirst is the first ethertype of LANA's vlink range.
	LANAEtherTypeFirst uint16 = 0xAC00
	// LANAEtherTypeLast is the last ethertype of LANA's vlink range.
	LANAEtherTypeLast uint16 = 0xAFFF
)

// Ethertypes the steering program looks through rather than steers by.
const (
	steerEtherTypeVLAN  = 0x8100 // 802.1Q customer tag
	steerEtherTypeQinQ  = 0x88A8 // 802.1ad service tag
	steerMinEtherType   = 0x0600 // below this the field is an 802.3 length
	steerBitmapBytes    = 1 << 16 / 8
	steerConfigHeader   = 8 // flags word + reserved word before the bitmap
	steerConfigSize     = steerConfigHeader + steerBitmapBytes
	steerFlagAll        = 1 << 0
	steerEtherTypeLimit = 1 << 16
)

// EtherTypeRange is an inclusive range of ethertypes, First <= Last. A single
// ethertype is the range {T, T}.
type EtherTypeRange struct {
	// First is the lowest ethertype of the range.
	First uint16
	// Last is the highest ethertype of the range, inclusive.
	Last uint16
}

// String formats r as "0xAC00-0xAFFF", or "0x88B5" for a single ethertype.
func (r EtherTypeRange) String() string {
	if r.First == r.Last {
		return fmt.Sprintf("%#04x", r.First)
	}
	return fmt.Sprintf("%#04x-%#04x", r.First, r.Last)
}

// Steering says which received frames the XDP program hands to userspace
// (through the AF_XDP socket registered for the frame's RX queue); every other
// frame is passed to the kernel's own stack with XDP_PASS, so ARP, IP and the
// rest of the host's networking keep working on a hooked interface.
//
// The frame's ethertype is read after at most one 802.1Q or 802.1ad tag. A
// Steering is a plain value; Program.SetSteering copies it into the kernel.
type Steering struct {
	// All steers every frame of at least 14 bytes, whatever its ethertype;
	// EtherTypes is then ignored.
	All bool
	// EtherTypes are the ranges of ethertypes steered when All is false.
	// Ranges may overlap. Every ethertype must be at least 0x0600 (smaller
	// values are 802.3 lengths) and must not be a VLAN tag type (0x8100,
	// 0x88A8), which the program looks through. Empty steers nothing.
	EtherTypes []EtherTypeRange
}

// DefaultSteering returns the steering LANA uses unless told otherwise: its
// vlink ethertypes 0xAC00-0xAFFF (0xAC00 | 10-bit port).
func DefaultSteering() Steering {
	return Steering{EtherTypes: []EtherTypeRange{{First: LANAEtherTypeFirst, Last: LANAEtherTypeLast}}}
}

// Validate reports the first rule s breaks, or nil.
func (s Steering) Validate() error {
	if s.All {
		return nil
	}
	for _, r := range s.EtherTypes {
		if r.First > r.Last {
			return fmt.Errorf("ethertype range %s: first must not exceed last", r)
		}
		if err := steerCheckRange(r); err != nil {
			return err
		}
	}
	return nil
}

// String formats s as "all" or a comma-separated list of ranges.
func (s Steering) String() string {
	if s.All {
		return "all"
	}
	if len(s.EtherTypes) == 0 {
		return "none"
	}
	parts := make([]string, len(s.EtherTypes))
	for i, r := range s.EtherTypes {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// Steers reports whether s hands a frame with the given ethertype (after any
// VLAN tag) to userspace. It mirrors the XDP program's decision.
func (s Steering) Steers(etherType uint16) bool {
	if s.All {
		return true
	}
	for _, r := range s.EtherTypes {
		if r.First <= etherType && etherType <= r.Last {
			return true
		}
	}
	return false
}

func steerCheckRange(r EtherTypeRange) error {
	if r.First < steerMinEtherType {
		return fmt.Errorf("ethertype range %s: ethertypes start at 0x0600 (smaller values are 802.3 lengths)", r)
	}
	for _, tag := range []uint16{steerEtherTypeVLAN, steerEtherTypeQinQ} {
		if r.First <= tag && tag <= r.Last {
			return fmt.Errorf("ethertype range %s: must not contain VLAN tag type %#04x (the program looks through one tag)", r, tag)
		}
	}
	return nil
}

// steerConfig is the kernel's view of a Steering: the value of the one-entry
// config array the XDP program reads for every frame. Layout, little endian
// (the host's order, as the program loads it):
//
//	offset 0: uint32 flags (steerFlagAll)
//	offset 4: uint32 reserved, zero
//	offset 8: 8192-byte bitmap, bit (t & 7) of byte (t >> 3) set when
//	          ethertype t (host order) is steered
//
// A bitmap costs one byte load per frame and a map update of 8 KiB per change,
// and needs no bounds other than the mask the verifier sees.
type steerConfig [steerConfigSize]byte

func (c *steerConfig) setAll(all bool) {
	if all {
		c[0] |= steerFlagAll
	} else {
		c[0] &^= steerFlagAll
	}
}

func (c *steerConfig) all() bool { return c[0]&steerFlagAll != 0 }

func (c *steerConfig) set(t uint16, on bool) {
	i, bit := steerConfigHeader+int(t>>3), byte(1)<<(t&7)
	if on {
		c[i] |= bit
	} else {
		c[i] &^= bit
	}
}

func (c *steerConfig) has(t uint16) bool {
	return c[steerConfigHeader+int(t>>3)]&(1<<(t&7)) != 0
}

// steerEncode builds the kernel's config for a validated Steering. With All
// set the bitmap still records EtherTypes, so that turning All off later keeps
// them.
func steerEncode(s Steering) *steerConfig {
	c := new(steerConfig)
	c.setAll(s.All)
	for _, r := range s.EtherTypes {
		for t := int(r.First); t <= int(r.Last); t++ {
			c.set(uint16(t), true)
		}
	}
	return c
}

// steerDecode turns a config back into a Steering with sorted, disjoint,
// non-adjacent ranges.
func steerDecode(c *steerConfig) Steering {
	s := Steering{All: c.all()}
	bitmap := c[steerConfigHeader:]
	start := -1
	for t := 0; t < steerEtherTypeLimit; t++ {
		// Skip empty bytes quickly when no range is open.
		if start < 0 && t&7 == 0 && bitmap[t>>3] == 0 {
			t += 7
			continue
		}
		// Skip full bytes quickly inside an open range.
		if start >= 0 && t&7 == 0 && bits.OnesCount8(bitmap[t>>3]) == 8 {
			t += 7
			continue
		}
		on := bitmap[t>>3]&(1<<(t&7)) != 0
		switch {
		case on && start < 0:
			start = t
		case !on && start >= 0:
			s.EtherTypes = append(s.EtherTypes, EtherTypeRange{First: uint16(start), Last: uint16(t - 1)})
			start = -1
		}
	}
	if start >= 0 {
		s.EtherTypes = append(s.EtherTypes, EtherTypeRange{First: uint16(start), Last: 0xFFFF})
	}
	return s
}
