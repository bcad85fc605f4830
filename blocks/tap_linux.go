package blocks

import (
	"fmt"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// tapDevice is an open TAP device (IFF_TAP|IFF_NO_PI): reads return the
// frames the kernel sends out of it, writes make frames arrive on it. The
// file is non-blocking and registered with Go's poller, so Close unblocks a
// pending Read. Not persistent: the device disappears when the file closes.
type tapDevice struct {
	f     *os.File
	index int
	// nl talks netlink in the namespace the device was made in, whatever
	// thread the caller runs on.
	nl *netlink.Handle
}

// openTAP creates TAP device name in the calling thread's network
// namespace, sets its MTU and brings it up.
func openTAP(name string, mtu int) (_ *tapDevice, err error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap %s: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap %s: TUNSETIFF: %w", name, err)
	}
	d := &tapDevice{f: os.NewFile(uintptr(fd), "tap:"+name)}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("tap %s: current namespace: %w", name, err)
	}
	d.nl, err = netlink.NewHandleAt(ns)
	ns.Close()
	if err != nil {
		return nil, fmt.Errorf("tap %s: netlink: %w", name, err)
	}
	link, err := d.nl.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("tap %s: %w", name, err)
	}
	d.index = link.Attrs().Index
	if err := d.nl.LinkSetMTU(link, mtu); err != nil {
		return nil, fmt.Errorf("tap %s: set mtu %d: %w", name, mtu, err)
	}
	if err := d.nl.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("tap %s: set up: %w", name, err)
	}
	return d, nil
}

// setCarrier turns the device's carrier on or off (TUNSETCARRIER).
func (d *tapDevice) setCarrier(on bool) error {
	rc, err := d.f.SyscallConn()
	if err != nil {
		return err
	}
	v := 0
	if on {
		v = 1
	}
	var ierr error
	if err := rc.Control(func(fd uintptr) { ierr = unix.IoctlSetPointerInt(int(fd), unix.TUNSETCARRIER, v) }); err != nil {
		return err
	}
	if ierr != nil {
		return fmt.Errorf("TUNSETCARRIER: %w", ierr)
	}
	return nil
}

func (d *tapDevice) Read(b []byte) (int, error)  { return d.f.Read(b) }
func (d *tapDevice) Write(b []byte) (int, error) { return d.f.Write(b) }

// Close closes the device (it disappears) and the netlink handle.
func (d *tapDevice) Close() error {
	if d.nl != nil {
		d.nl.Close()
	}
	return d.f.Close()
}

// lowerUp reports (in the device's namespace) whether interface index has its carrier (IFF_LOWER_UP).
func (d *tapDevice) lowerUp(index int) (bool, error) {
	link, err := d.nl.LinkByIndex(index)
	if err != nil {
		return false, err
	}
	return link.Attrs().RawFlags&unix.IFF_LOWER_UP != 0, nil
}

// ifIndex returns (in the device's namespace) the index of interface name.
func (d *tapDevice) ifIndex(name string) (int, error) {
	link, err := d.nl.LinkByName(name)
	if err != nil {
		return 0, err
	}
	return link.Attrs().Index, nil
}
