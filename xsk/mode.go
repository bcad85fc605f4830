package xsk

import "fmt"

// Mode is how an AF_XDP socket moves packets between the driver and the UMEM.
type Mode int

const (
	// ModeAuto tries zero-copy and falls back to copy mode.
	ModeAuto Mode = iota
	// ModeZeroCopy binds with XDP_ZEROCOPY: the NIC DMAs into the UMEM.
	// Open fails with ErrZeroCopyUnsupported where the driver cannot.
	ModeZeroCopy
	// ModeCopy binds with XDP_COPY: the kernel copies each packet between
	// its own buffers and the UMEM. Works on every driver (veth included).
	ModeCopy
)

// String names the mode.
func (m Mode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeZeroCopy:
		return "zero-copy"
	case ModeCopy:
		return "copy"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}
