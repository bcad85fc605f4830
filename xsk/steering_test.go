package xsk

import (
	"reflect"
	"strings"
	"testing"
)

func TestSteeringEncodeDecode(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Steering
		want Steering
	}{
		{"default", DefaultSteering(), Steering{EtherTypes: []EtherTypeRange{{0xAC00, 0xAFFF}}}},
		{"merge overlapping and adjacent", Steering{EtherTypes: []EtherTypeRange{
			{0xAC10, 0xAC20}, {0x88B5, 0x88B5}, {0xAC00, 0xAC12}, {0xAC21, 0xAC30}, {0x88B6, 0x88B6},
		}}, Steering{EtherTypes: []EtherTypeRange{{0x88B5, 0x88B6}, {0xAC00, 0xAC30}}}},
		{"top of the space", Steering{EtherTypes: []EtherTypeRange{{0xFFF0, 0xFFFF}}},
			Steering{EtherTypes: []EtherTypeRange{{0xFFF0, 0xFFFF}}}},
		{"all keeps the set", Steering{All: true, EtherTypes: []EtherTypeRange{{0x0800, 0x0800}}},
			Steering{All: true, EtherTypes: []EtherTypeRange{{0x0800, 0x0800}}}},
		{"nothing", Steering{EtherTypes: []EtherTypeRange{}}, Steering{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.in.Validate(); err != nil {
				t.Fatal(err)
			}
			c := steerEncode(tc.in)
			if got := steerDecode(c); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("decode(encode(%v)) = %v, want %v", tc.in, got, tc.want)
			}
			// The bitmap holds exactly the ranges, All or not.
			for et := 0; et < 1<<16; et++ {
				if got, want := c.has(uint16(et)), inRanges(tc.in, uint16(et)); got != want {
					t.Fatalf("bitmap has %#04x = %v, want %v", et, got, want)
				}
			}
			if c.all() != tc.in.All {
				t.Fatalf("all flag = %v, want %v", c.all(), tc.in.All)
			}
		})
	}
}

func inRanges(s Steering, et uint16) bool {
	return Steering{EtherTypes: s.EtherTypes}.Steers(et)
}

func TestSteeringValidate(t *testing.T) {
	for _, tc := range []struct {
		in   Steering
		rule string
	}{
		{Steering{EtherTypes: []EtherTypeRange{{0xAF00, 0xAC00}}}, "first must not exceed last"},
		{Steering{EtherTypes: []EtherTypeRange{{0x0100, 0x0700}}}, "start at 0x0600"},
		{Steering{EtherTypes: []EtherTypeRange{{0x8100, 0x8100}}}, "VLAN tag type 0x8100"},
		{Steering{EtherTypes: []EtherTypeRange{{0x8000, 0x9000}}}, "VLAN tag type"},
	} {
		err := tc.in.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.rule) {
			t.Errorf("Validate(%v) = %v, want an error stating %q", tc.in, err, tc.rule)
		}
	}
	// All ignores the set, so a set that would be invalid is accepted.
	if err := (Steering{All: true, EtherTypes: []EtherTypeRange{{0x8100, 0x8100}}}).Validate(); err != nil {
		t.Errorf("Validate with All: %v", err)
	}
}

func TestSteeringStringAndSteers(t *testing.T) {
	s := Steering{EtherTypes: []EtherTypeRange{{0xAC00, 0xAFFF}, {0x88B5, 0x88B5}}}
	if got, want := s.String(), "0xac00-0xafff,0x88b5"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	for et, want := range map[uint16]bool{0xABFF: false, 0xAC00: true, 0xAFFF: true, 0xB000: false, 0x88B5: true, 0x0800: false} {
		if s.Steers(et) != want {
			t.Errorf("Steers(%#04x) = %v, want %v", et, !want, want)
		}
	}
	if !(Steering{All: true}).Steers(0x0800) {
		t.Error("All does not steer IPv4")
	}
}
