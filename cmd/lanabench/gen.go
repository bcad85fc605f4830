package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/lana-net/lana/internal/frames"
	"github.com/lana-net/lana/internal/livegen"
	"github.com/lana-net/lana/internal/testbed"
	"github.com/lana-net/lana/internal/xdpcount"
)

func init() { subcommands = append(subcommands, genCmd) }

// genFlags holds the gen subcommand's flags.
type genFlags struct {
	mode            string
	iface, netns    string
	cpu             int
	queue           int
	rate            uint64
	duration        time.Duration
	count           uint64
	size, flows     int
	srcMAC, dstMAC  string
	srcIP, dstIP    string
	vlinkPort       int
	allowAnyAddress bool
	jsonOut         bool
	selfTest        bool
	outstanding     uint64
	unpaced         bool
}

func genCmd() *cobra.Command {
	var f genFlags
	cmd := &cobra.Command{
		Use:   "gen",
		Short: "Send test frames out of an interface as fast as (or at the rate) asked",
		Long: `gen sends Ethernet/IPv4/UDP (or LANA vlink) test frames out of --iface.

Modes: xdp-live (BPF_PROG_RUN live frames, the fastest), afxdp (LANA's
AF_XDP socket: frames copied into the UMEM once, then only descriptors move
through the TX ring; --queue picks the TX queue) and afpacket (AF_PACKET
socket, the kernel socket baseline).

--size counts the 4-byte FCS: --size 64 sends 60-byte buffers. Addresses must
lie in 198.18.0.0/15 unless --allow-any-address.

--self-test builds its own namespace pair, counts arrivals with an XDP_DROP
program on the far end, paces the generator by that count, and prints sent
versus received rates. Everything it made is removed on exit and on Ctrl-C.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runGen(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.mode, "mode", "xdp-live", "generator: xdp-live, afpacket or afxdp")
	fl.StringVar(&f.iface, "iface", "", "interface to send on")
	fl.StringVar(&f.netns, "netns", "", "named network namespace (ip netns) holding --iface")
	fl.IntVar(&f.cpu, "cpu", 0, "CPU to pin the sending thread to (-1: no pinning)")
	fl.IntVar(&f.queue, "queue", 0, "afxdp: TX queue of --iface to bind the socket to")
	fl.Uint64Var(&f.rate, "rate", 0, "frames per second (0: flat out)")
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long")
	fl.Uint64Var(&f.count, "count", 0, "stop after this many frames")
	fl.IntVar(&f.size, "size", frames.DefaultSize, "frame size on the wire, including the 4-byte FCS")
	fl.IntVar(&f.flows, "flows", 1, "number of flows (UDP source ports)")
	fl.StringVar(&f.srcMAC, "src-mac", "", "source MAC (default: the interface's)")
	fl.StringVar(&f.dstMAC, "dst-mac", "", "destination MAC (default: "+frames.DefaultDstMAC.String()+")")
	fl.StringVar(&f.srcIP, "src-ip", frames.DefaultSrcIP.String(), "source IPv4 address")
	fl.StringVar(&f.dstIP, "dst-ip", frames.DefaultDstIP.String(), "destination IPv4 address")
	fl.IntVar(&f.vlinkPort, "vlink-port", -1, "send LANA vlink frames on this port (ethertype 0xAC00|port) instead of UDP")
	fl.BoolVar(&f.allowAnyAddress, "allow-any-address", false, "allow addresses outside 198.18.0.0/15")
	fl.BoolVar(&f.jsonOut, "json", false, "print the final summary as JSON")
	fl.BoolVar(&f.selfTest, "self-test", false, "run on a private namespace pair and report sent vs received")
	fl.Uint64Var(&f.outstanding, "outstanding", livegen.DefaultOutstanding, "self-test: frames in flight at most")
	fl.BoolVar(&f.unpaced, "unpaced", false, "self-test: do not pace by the receiver's count")
	return cmd
}

// summary is what gen prints at the end.
type summary struct {
	livegen.Result
	// Received and ReceivedPPS are set by --self-test.
	Received    uint64  `json:"received,omitempty"`
	ReceivedPPS float64 `json:"received_pps,omitempty"`
}

func runGen(ctx context.Context, f genFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.duration == 0 && f.count == 0 && f.selfTest {
		f.duration = 3 * time.Second
	}
	spec, err := frameSpec(f)
	if err != nil {
		return err
	}
	cfg := livegen.Config{CPU: f.cpu, Queue: f.queue, Frame: spec, Count: f.count, Duration: f.duration, Rate: f.rate,
		Outstanding: f.outstanding}

	var drop *xdpcount.Counter
	if f.selfTest {
		p, err := testbed.NewPair(testbed.Options{})
		if err != nil {
			return fmt.Errorf("self-test pair: %w", err)
		}
		defer p.Close()
		// IPv6 on IfA would send solicitations the receiver counts too.
		if err := p.Do(testbed.A, func() error {
			return os.WriteFile("/proc/sys/net/ipv6/conf/"+p.IfA+"/disable_ipv6", []byte("1"), 0)
		}); err != nil {
			return fmt.Errorf("self-test: disable IPv6 on %s: %w", p.IfA, err)
		}
		if drop, err = selfTestReceiver(p, f.cpu); err != nil {
			return err
		}
		defer drop.Close()
		cfg.Ifindex = p.IndexA
		cfg.Do = func(fn func() error) error { return p.Do(testbed.A, fn) }
		cfg.Frame.SrcMAC, cfg.Frame.DstMAC = p.MACA, p.MACB
		if !f.unpaced {
			cfg.Pace, cfg.PaceMap = drop.Consumed, drop.Map()
		}
	} else {
		if f.iface == "" {
			return errors.New("--iface is required (or use --self-test)")
		}
		do := func(fn func() error) error {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			return fn()
		}
		if f.netns != "" {
			h, err := netns.GetFromName(f.netns)
			if err != nil {
				return fmt.Errorf("namespace %s: %w", f.netns, err)
			}
			defer h.Close()
			do = func(fn func() error) error { return testbed.DoIn(h, fn) }
		}
		cfg.Do = do
		err := do(func() error {
			ifc, err := net.InterfaceByName(f.iface)
			if err != nil {
				return fmt.Errorf("interface %s: %w", f.iface, err)
			}
			cfg.Ifindex = ifc.Index
			if cfg.Frame.SrcMAC == nil {
				cfg.Frame.SrcMAC = ifc.HardwareAddr
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if (f.mode == "afpacket" || f.mode == "afxdp") && drop != nil && !f.unpaced {
		cfg.Pace, cfg.PaceMap = drop.Consumed, nil
	}

	gen, closeGen, err := newGenerator(f.mode, cfg)
	if err != nil {
		return err
	}
	defer closeGen()

	var before uint64
	if drop != nil {
		before = drop.Consumed()
	}
	done := make(chan struct{})
	if isTerminal(os.Stderr) && !f.jsonOut {
		go progress(gen, done)
	}
	res, err := gen.Run(ctx)
	close(done)
	if err != nil {
		return err
	}
	s := summary{Result: res}
	if drop != nil {
		time.Sleep(20 * time.Millisecond) // let the tail drain
		s.Received = drop.Consumed() - before
		if res.Elapsed > 0 {
			s.ReceivedPPS = float64(s.Received) / res.Elapsed.Seconds()
		}
	}
	return report(s, f.jsonOut)
}

func frameSpec(f genFlags) (frames.Spec, error) {
	var s frames.Spec
	var err error
	if f.srcMAC != "" {
		if s.SrcMAC, err = net.ParseMAC(f.srcMAC); err != nil {
			return s, fmt.Errorf("--src-mac: %w", err)
		}
	}
	if f.dstMAC != "" {
		if s.DstMAC, err = net.ParseMAC(f.dstMAC); err != nil {
			return s, fmt.Errorf("--dst-mac: %w", err)
		}
	}
	if s.SrcIP, err = netip.ParseAddr(f.srcIP); err != nil {
		return s, fmt.Errorf("--src-ip: %w", err)
	}
	if s.DstIP, err = netip.ParseAddr(f.dstIP); err != nil {
		return s, fmt.Errorf("--dst-ip: %w", err)
	}
	s.Size, s.Flows, s.AllowAnyAddress = f.size, f.flows, f.allowAnyAddress
	if f.vlinkPort >= 0 {
		s.Vlink, s.VlinkPort = true, f.vlinkPort
	}
	if err := s.Validate(); err != nil {
		if errors.Is(err, frames.ErrAddress) {
			return s, fmt.Errorf("%w (pass --allow-any-address to override)", err)
		}
		return s, err
	}
	return s, nil
}

// newGenerator returns the generator for mode and a function releasing it.
func newGenerator(mode string, cfg livegen.Config) (livegen.Generator, func(), error) {
	switch mode {
	case "xdp-live":
		g, err := livegen.NewXDPLive(cfg)
		if err != nil {
			return nil, nil, err
		}
		return g, func() { g.Close() }, nil
	case "afpacket":
		g, err := livegen.NewAFPacket(cfg)
		if err != nil {
			return nil, nil, err
		}
		return g, func() { g.Close() }, nil
	case "afxdp":
		g, err := livegen.NewAFXDP(cfg)
		if err != nil {
			return nil, nil, err
		}
		return g, func() { g.Close() }, nil
	}
	return nil, nil, fmt.Errorf("mode %q: must be xdp-live, afpacket or afxdp", mode)
}

// selfTestReceiver attaches the counting XDP_DROP program to the pair's IfB
// and, on a machine with a spare CPU, moves B's NAPI to a thread pinned off
// the generator's CPU.
func selfTestReceiver(p *testbed.Pair, genCPU int) (*xdpcount.Counter, error) {
	var drop *xdpcount.Counter
	err := p.Do(testbed.B, func() (err error) {
		drop, err = xdpcount.Attach(xdpcount.Drop, p.IndexB)
		return err
	})
	if err != nil {
		return nil, err
	}
	if n := runtime.NumCPU(); n >= 2 {
		pids, err := p.ThreadNAPI()
		if err != nil {
			drop.Close()
			return nil, err
		}
		var set unix.CPUSet
		set.Set((max(genCPU, 0) + 1) % n)
		for _, pid := range pids {
			if err := unix.SchedSetaffinity(pid, &set); err != nil {
				drop.Close()
				return nil, fmt.Errorf("pin NAPI thread %d: %w", pid, err)
			}
		}
	}
	return drop, nil
}

func progress(g livegen.Generator, done <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last uint64
	lastAt := time.Now()
	for {
		select {
		case <-done:
			fmt.Fprint(os.Stderr, "\r\033[K")
			return
		case now := <-t.C:
			cur := g.Sent()
			fmt.Fprintf(os.Stderr, "\r\033[K%8.3f Mpps  total %d", float64(cur-last)/now.Sub(lastAt).Seconds()/1e6, cur)
			last, lastAt = cur, now
		}
	}
}

func report(s summary, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	fmt.Printf("mode %s: sent %d frames in %v: %.3f Mpps\n", s.Mode, s.Sent, s.Elapsed.Round(time.Millisecond), s.PPS/1e6)
	if s.RefusedKnown {
		fmt.Printf("refused by the kernel: %d\n", s.Refused)
	}
	if s.Skipped > 0 {
		fmt.Printf("program runs skipped (pacing/rate): %d\n", s.Skipped)
	}
	if s.Received > 0 || s.ReceivedPPS > 0 {
		fmt.Printf("received %d frames: %.3f Mpps\n", s.Received, s.ReceivedPPS/1e6)
	}
	return nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
