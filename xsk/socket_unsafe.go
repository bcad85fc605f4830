//go:build linux

package xsk

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The XDP socket options that golang.org/x/sys/unix has types for but no
// wrappers: raw getsockopt and setsockopt with pointers to those types.

func getsockopt(fd, opt int, p unsafe.Pointer, size uintptr) (uintptr, error) {
	l := uint32(size)
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt),
		uintptr(p), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return 0, e
	}
	return uintptr(l), nil
}

func setsockopt(fd, opt int, p unsafe.Pointer, size uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt),
		uintptr(p), size, 0)
	if e != 0 {
		return e
	}
	return nil
}

// registerUMEM tells the kernel about the UMEM at mem (XDP_UMEM_REG).
func registerUMEM(fd int, mem []byte, cfg UMEMConfig, flags uint32) error {
	reg := unix.XDPUmemReg{
		Addr:     uint64(uintptr(unsafe.Pointer(unsafe.SliceData(mem)))),
		Len:      uint64(len(mem)),
		Size:     cfg.FrameSize,
		Headroom: cfg.Headroom,
		Flags:    flags,
	}
	return setsockopt(fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg))
}

// mmapOffsets reads where each ring's parts sit in its mmap (XDP_MMAP_OFFSETS).
func mmapOffsets(fd int) (unix.XDPMmapOffsets, error) {
	var off unix.XDPMmapOffsets
	n, err := getsockopt(fd, unix.XDP_MMAP_OFFSETS, unsafe.Pointer(&off), unsafe.Sizeof(off))
	if err == nil && n != unsafe.Sizeof(off) {
		// Kernels before 5.4 had no flags word; LANA needs it.
		return off, unix.EOPNOTSUPP
	}
	return off, err
}

// xdpStatistics reads the kernel's counters (XDP_STATISTICS).
func xdpStatistics(fd int) (unix.XDPStatistics, error) {
	var st unix.XDPStatistics
	_, err := getsockopt(fd, unix.XDP_STATISTICS, unsafe.Pointer(&st), unsafe.Sizeof(st))
	return st, err
}

// xdpOptions reads the bound socket's options (XDP_OPTIONS).
func xdpOptions(fd int) (uint32, error) {
	var flags uint32
	_, err := getsockopt(fd, unix.XDP_OPTIONS, unsafe.Pointer(&flags), unsafe.Sizeof(flags))
	return flags, err
}

// setUint32 sets an XDP socket option taking an int (ring sizes, budgets).
func setUint32(fd, opt int, v uint32) error {
	return setsockopt(fd, opt, unsafe.Pointer(&v), unsafe.Sizeof(v))
}

// kick asks the kernel to process the TX ring: sendto with no data. It
// returns the raw errno so the data path never builds an error value.
func kick(fd int) unix.Errno {
	_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	return e
}

// pollIn waits until the socket pfds[0] or the eventfd pfds[1] is readable
// or ts runs out (nil: forever), with ppoll, which every architecture has.
func pollIn(pfds *[2]unix.PollFd, ts *unix.Timespec) (rx, woken bool, _ unix.Errno) {
	pfds[0].Revents, pfds[1].Revents = 0, 0
	n, _, e := unix.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(pfds)), uintptr(len(pfds)),
		uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	if e != 0 || n == 0 {
		return false, false, e
	}
	return pfds[0].Revents&unix.POLLIN != 0, pfds[1].Revents&unix.POLLIN != 0, 0
}

// signalEvent adds one to the eventfd's counter, making it readable. A
// counter at its maximum (EAGAIN) is readable already: not an error.
func signalEvent(fd int) unix.Errno {
	v := uint64(1)
	_, _, e := unix.Syscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&v)), 8)
	if e == unix.EAGAIN {
		return 0
	}
	return e
}

// drainEvent reads the eventfd's counter back to zero (non-blocking).
func drainEvent(fd int) {
	var v uint64
	unix.Syscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&v)), 8)
}
