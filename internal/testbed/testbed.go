// Package testbed builds the network LANA's tests and benchmarks run on: two
// fresh network namespaces joined by a veth pair, addressed from the
// benchmarking range 198.18.0.0/15, with unique names per run so parallel
// test packages never collide.
//
// Everything a Pair creates is removed by Close: deleting the namespaces
// destroys the veth pair and, with it, any XDP program attached to either end.
// New registers Close with t.Cleanup, so a failing test still cleans up.
//
// Traffic stays inside the namespaces: the veth pair has no path to the host's
// own interfaces.
package testbed

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Side names one end of a Pair.
type Side int

const (
	// A is the generator's side: namespace NSA holding veth IfA.
	A Side = iota
	// B is the receiver's side: namespace NSB holding veth IfB.
	B
)

func (s Side) String() string {
	if s == A {
		return "A"
	}
	return "B"
}

// Options shape a Pair. The zero value is one RX and one TX queue per end.
type Options struct {
	// Queues is the number of RX and TX queues of each veth end (default 1).
	Queues int
	// KeepIPv6 leaves IPv6 on. By default it is off on both ends, so that
	// neighbour and router solicitations never mix with a test's frames.
	KeepIPv6 bool
}

// Pair is two network namespaces joined by a veth pair.
type Pair struct {
	// ID is unique per Pair and part of every name below.
	ID string
	// NSA and NSB are the namespaces' names, as `ip netns` lists them.
	NSA, NSB string
	// IfA and IfB are the veth ends, IfA inside NSA and IfB inside NSB.
	IfA, IfB string
	// IndexA and IndexB are the interface indexes inside their namespaces.
	IndexA, IndexB int
	// MACA and MACB are the ends' hardware addresses.
	MACA, MACB net.HardwareAddr
	// AddrA and AddrB are the ends' addresses, inside 198.18.0.0/15.
	AddrA, AddrB netip.Prefix

	handles [2]netns.NsHandle
}

var pairSeq atomic.Uint32

// NewPair creates the namespaces and the veth pair, brings both ends up and
// addresses them. On error it removes whatever it had created.
func NewPair(opts Options) (_ *Pair, err error) {
	if opts.Queues <= 0 {
		opts.Queues = 1
	}
	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("testbed: random id: %w", err)
	}
	id := hex.EncodeToString(rnd[:])
	seq := pairSeq.Add(1)
	p := &Pair{
		ID:  id,
		NSA: "lana-" + id + "-a",
		NSB: "lana-" + id + "-b",
		// Interface names are at most 15 bytes.
		IfA: "la" + id,
		IfB: "lb" + id,
		// Each pair takes its own /30 in 198.18.0.0/15, spread by the
		// random id so that parallel processes rarely share one; they
		// live in separate namespaces, so a clash would be harmless.
		AddrA: netip.PrefixFrom(addrIn(rnd, seq, 1), 30),
		AddrB: netip.PrefixFrom(addrIn(rnd, seq, 2), 30),
	}
	p.handles = [2]netns.NsHandle{-1, -1}
	reapOnce.Do(func() {
		reaped, err := reapOrphans()
		if len(reaped) > 0 || err != nil {
			fmt.Fprintf(os.Stderr, "testbed: removed namespaces left by processes that ended without closing them: %v (errors: %v)\n", reaped, err)
		}
	})
	// The owner file comes first: a namespace without one is an orphan.
	if err := claim(id); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	for i, name := range []string{p.NSA, p.NSB} {
		h, err := newNamedNS(name)
		if err != nil {
			return nil, fmt.Errorf("testbed: create namespace %s: %w", name, err)
		}
		p.handles[i] = h
	}
	if err := p.createVeth(opts); err != nil {
		return nil, err
	}
	if !opts.KeepIPv6 {
		for _, e := range []struct {
			side Side
			name string
		}{{A, p.IfA}, {B, p.IfB}} {
			// /proc/sys/net follows the namespace of the opening thread.
			err := p.Do(e.side, func() error {
				return os.WriteFile("/proc/sys/net/ipv6/conf/"+e.name+"/disable_ipv6", []byte("1"), 0)
			})
			if err != nil {
				return nil, fmt.Errorf("testbed: disable IPv6 on %s: %w", e.name, err)
			}
		}
	}
	if err := p.configure(A, p.IfA, p.AddrA, &p.IndexA, &p.MACA); err != nil {
		return nil, err
	}
	if err := p.configure(B, p.IfB, p.AddrB, &p.IndexB, &p.MACB); err != nil {
		return nil, err
	}
	// A veth end is administratively up at once but drops what it is
	// given until both ends are operationally up (for up to about a second).
	for _, e := range []struct {
		side Side
		name string
	}{{A, p.IfA}, {B, p.IfB}} {
		if err := p.waitOperUp(e.side, e.name, 5*time.Second); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// waitOperUp waits until link name in side's namespace is operationally up.
func (p *Pair) waitOperUp(side Side, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var state netlink.LinkOperState
		err := p.Do(side, func() error {
			link, err := netlink.LinkByName(name)
			if err == nil {
				state = link.Attrs().OperState
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("testbed: state of %s: %w", name, err)
		}
		if state == netlink.OperUp {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testbed: %s still %s after %v", name, state, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// addrIn returns host number host of a /30 inside 198.18.0.0/15.
func addrIn(rnd [3]byte, seq uint32, host byte) netip.Addr {
	n := (uint32(rnd[0])<<16 | uint32(rnd[1])<<8 | uint32(rnd[2])) + seq
	n = (n << 2) & 0x1ffff // 17 bits: the /15's host part
	return netip.AddrFrom4([4]byte{198, 18 + byte(n>>16), byte(n >> 8), byte(n) | host})
}

// newNamedNS creates a named namespace with `ip netns add`, so that it is
// made exactly as iproute2 makes them: iproute2 turns /run/netns into a shared
// bind mount the first time it adds one, and a namespace mounted there by
// other means before that would be hidden under the new mount, impossible to
// delete by name.
func newNamedNS(name string) (netns.NsHandle, error) {
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return -1, fmt.Errorf("ip netns add: %w: %s", err, strings.TrimSpace(string(out)))
	}
	h, err := netns.GetFromName(name)
	if err != nil {
		exec.Command("ip", "netns", "del", name).Run()
		return -1, err
	}
	return h, nil
}

func (p *Pair) createVeth(opts Options) error {
	return p.Do(A, func() error {
		la := netlink.NewLinkAttrs()
		la.Name = p.IfA
		la.NumTxQueues = opts.Queues
		la.NumRxQueues = opts.Queues
		veth := &netlink.Veth{
			LinkAttrs:     la,
			PeerName:      p.IfB,
			PeerNamespace: netlink.NsFd(p.handles[B]),
		}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("testbed: add veth %s/%s: %w", p.IfA, p.IfB, err)
		}
		return nil
	})
}

func (p *Pair) configure(side Side, name string, addr netip.Prefix, index *int, mac *net.HardwareAddr) error {
	return p.Do(side, func() error {
		link, err := netlink.LinkByName(name)
		if err != nil {
			return fmt.Errorf("testbed: find %s: %w", name, err)
		}
		ipnet := &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), 32)}
		if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: ipnet}); err != nil {
			return fmt.Errorf("testbed: address %s on %s: %w", addr, name, err)
		}
		if err := netlink.LinkSetUp(link); err != nil {
			return fmt.Errorf("testbed: bring up %s: %w", name, err)
		}
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			netlink.LinkSetUp(lo)
		}
		*index = link.Attrs().Index
		*mac = link.Attrs().HardwareAddr
		return nil
	})
}

// Do runs fn on a locked OS thread inside the namespace of side. Sockets,
// links and BPF attachments that fn creates belong to that namespace and stay
// usable from any goroutine afterwards.
func (p *Pair) Do(side Side, fn func() error) error {
	return DoIn(p.handles[side], fn)
}

// Handle returns the namespace handle of side; it stays owned by the Pair.
func (p *Pair) Handle(side Side) netns.NsHandle { return p.handles[side] }

// Name returns the namespace name of side.
func (p *Pair) Name(side Side) string {
	if side == A {
		return p.NSA
	}
	return p.NSB
}

// DoIn runs fn on a locked OS thread switched into ns, then switches back.
// If switching back fails the thread stays locked and the runtime retires it,
// so no goroutine ever runs in the wrong namespace.
func DoIn(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("testbed: current namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("testbed: enter namespace: %w", err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return errors.Join(ferr, fmt.Errorf("testbed: restore namespace: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// Close removes both namespaces, which destroys the veth pair and any XDP
// program attached to it. It is safe to call more than once.
func (p *Pair) Close() error {
	var errs []error
	for i, name := range []string{p.NSA, p.NSB} {
		if p.handles[i] >= 0 {
			p.handles[i].Close()
			p.handles[i] = -1
		}
		if _, err := os.Stat(filepath.Join("/run/netns", name)); err == nil {
			if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("testbed: delete namespace %s: %w: %s", name, err, strings.TrimSpace(string(out))))
			}
		}
	}
	if len(errs) == 0 {
		errs = append(errs, release(p.ID))
	}
	return errors.Join(errs...)
}

// ThreadNAPI moves B's NAPI into kernel threads ("napi/IfB-N") and returns
// their PIDs, so that a receiver pinned with them to one CPU pays for its own
// receive work. A veth has NAPI only while an XDP program is attached to it (or
// GRO is on): call ThreadNAPI after attaching one to IfB.
func (p *Pair) ThreadNAPI() ([]int, error) {
	// sysfs shows the namespace it was mounted in, so the write goes
	// through `ip netns exec`, which mounts B's own sysfs.
	cmd := exec.Command("ip", "netns", "exec", p.NSB, "sh", "-c",
		"echo 1 > /sys/class/net/"+p.IfB+"/threaded")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("testbed: threaded NAPI on %s (is an XDP program attached?): %w: %s",
			p.IfB, err, strings.TrimSpace(string(out)))
	}
	return p.napiThreads()
}

func (p *Pair) napiThreads() ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	prefix := "napi/" + p.IfB + "-"
	if len(prefix) > 15 { // comm holds 15 bytes
		prefix = prefix[:15]
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil {
			continue
		}
		if strings.HasPrefix(string(comm), prefix) {
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		return nil, fmt.Errorf("testbed: no NAPI thread for %s", p.IfB)
	}
	return pids, nil
}
