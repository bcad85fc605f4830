package xsk

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Desc must match struct xdp_desc byte for byte: the RX and TX rings are
// arrays of it shared with the kernel.
var _ [16 - unsafe.Sizeof(Desc{})]struct{}
var _ [unsafe.Sizeof(Desc{}) - 16]struct{}
var _ [8 - unsafe.Offsetof(Desc{}.Len)]struct{}

// mapRing lays a ring of size entries of descSize bytes over mem at offsets
// off and returns the index machinery and a pointer to the first descriptor.
// mem must stay alive and mapped while the ring is used: the ring's pointers
// keep Go memory alive, but an mmap must outlive the ring by construction.
func mapRing(name string, mem []byte, off RingOffsets, size uint32, descSize int) (ring, unsafe.Pointer, error) {
	if err := checkRingSize(name, size); err != nil {
		return ring{}, nil, err
	}
	if need := RingBytes(off, size, descSize); len(mem) < need {
		return ring{}, nil, fmt.Errorf("%s ring of %d entries: memory of %d bytes, need %d: %w",
			name, size, len(mem), need, ErrInvalidConfig)
	}
	base := unsafe.Pointer(unsafe.SliceData(mem))
	at := func(o uint64, align uintptr) (unsafe.Pointer, error) {
		p := unsafe.Add(base, o)
		if uintptr(p)%align != 0 {
			return nil, fmt.Errorf("%s ring: offset %d is not %d-byte aligned: %w", name, o, align, ErrInvalidConfig)
		}
		return p, nil
	}
	var r ring
	var err error
	var p unsafe.Pointer
	if p, err = at(off.Producer, 4); err != nil {
		return ring{}, nil, err
	}
	r.producer = (*atomic.Uint32)(p)
	if p, err = at(off.Consumer, 4); err != nil {
		return ring{}, nil, err
	}
	r.consumer = (*atomic.Uint32)(p)
	if p, err = at(off.Flags, 4); err != nil {
		return ring{}, nil, err
	}
	r.flags = (*atomic.Uint32)(p)
	descs, err := at(off.Desc, 8)
	if err != nil {
		return ring{}, nil, err
	}
	r.size = size
	r.mask = size - 1
	return r, descs, nil
}

// addrSlice views n uint64 descriptors at p.
func addrSlice(p unsafe.Pointer, n uint32) []uint64 { return unsafe.Slice((*uint64)(p), n) }

// descSlice views n Desc descriptors at p.
func descSlice(p unsafe.Pointer, n uint32) []Desc { return unsafe.Slice((*Desc)(p), n) }
