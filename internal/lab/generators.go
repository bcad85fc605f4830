package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lana-net/lana/internal/frames"
	"github.com/lana-net/lana/internal/livegen"
	"github.com/lana-net/lana/internal/testbed"
	"github.com/lana-net/lana/internal/xdpcount"
)

// genFlows is the number of flows every generator row sends.
const genFlows = 4

// generatorNote says what a generator row runs.
func generatorNote(gen string) string {
	switch gen {
	case TrafgenRow:
		return "netsniff-ng trafgen, PACKET_MMAP TX ring, one process; cannot be paced: drops are the veth's refusals"
	case "xdp-live":
		return "BPF_PROG_RUN live frames, paced in its XDP program on the receiver's count"
	case "afxdp":
		return "LANA xsk TX ring (copy mode on veth), paced from Go"
	case "afpacket":
		return "AF_PACKET write per frame, qdisc bypass, paced from Go"
	}
	return ""
}

// generatorRun measures one run of a generator on a fresh pair: XDP_DROP
// on B counts what arrives (B's NAPI thread on the receive CPU), the
// generator runs on the generator CPU, and the rate is what B counted in
// the window after the warm-up. trafgen is the trafgen binary for its row.
func (cfg *Config) generatorRun(ctx context.Context, r row, run int, trafgen string) (s Sample, err error) {
	err = withPair(func(p *testbed.Pair) error {
		drop, err := dropReceiver(p, cfg.RxCPU)
		if err != nil {
			return err
		}
		defer drop.Close()
		stopLive := cfg.live(r.name, run, drop.Consumed)
		defer stopLive()
		if r.gen == TrafgenRow {
			s, err = cfg.runTrafgen(ctx, p, drop, trafgen)
		} else {
			s, err = cfg.runLivegen(ctx, p, drop, r.gen)
		}
		return err
	})
	return s, err
}

// dropReceiver attaches XDP_DROP to B and pins B's NAPI threads to cpu.
func dropReceiver(p *testbed.Pair, cpu int) (*xdpcount.Counter, error) {
	var drop *xdpcount.Counter
	if err := p.Do(testbed.B, func() (err error) {
		drop, err = xdpcount.Attach(xdpcount.Drop, p.IndexB)
		return err
	}); err != nil {
		return nil, fmt.Errorf("xdp-drop receiver: %w", err)
	}
	pids, err := p.ThreadNAPI()
	if err != nil {
		drop.Close()
		return nil, err
	}
	var set unix.CPUSet
	set.Set(cpu)
	for _, pid := range pids {
		if err := unix.SchedSetaffinity(pid, &set); err != nil {
			drop.Close()
			return nil, fmt.Errorf("pin NAPI thread %d: %w", pid, err)
		}
	}
	return drop, nil
}

func (cfg *Config) spec(p *testbed.Pair) frames.Spec {
	return frames.Spec{SrcMAC: p.MACA, DstMAC: p.MACB, SrcIP: p.AddrA.Addr(), DstIP: p.AddrB.Addr(), Flows: genFlows}
}

// measure waits for the warm-up, then counts what B took in the window.
func (cfg *Config) measure(ctx context.Context, p *testbed.Pair, drop *xdpcount.Counter, failed <-chan error) (Sample, error) {
	wait := func(d time.Duration) error {
		select {
		case <-time.After(d):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case err := <-failed:
			return fmt.Errorf("%w: %v", errGenStopped, err)
		}
	}
	if err := wait(cfg.Warmup); err != nil {
		return Sample{}, err
	}
	c0, err := drop.Count()
	if err != nil {
		return Sample{}, err
	}
	d0, err := txDropped(p)
	if err != nil {
		return Sample{}, err
	}
	t0 := time.Now()
	if err := wait(cfg.Window); err != nil {
		return Sample{}, err
	}
	c1, err := drop.Count()
	if err != nil {
		return Sample{}, err
	}
	el := time.Since(t0)
	d1, err := txDropped(p)
	if err != nil {
		return Sample{}, err
	}
	return Sample{PPS: float64(c1-c0) / el.Seconds(), Drops: d1 - d0}, nil
}

func (cfg *Config) runLivegen(ctx context.Context, p *testbed.Pair, drop *xdpcount.Counter, mode string) (Sample, error) {
	gc := livegen.Config{
		Ifindex: p.IndexA, Do: func(fn func() error) error { return p.Do(testbed.A, fn) },
		CPU: cfg.GenCPU, Frame: cfg.spec(p), Pace: drop.Consumed,
	}
	var g livegen.Generator
	var err error
	switch mode {
	case "xdp-live":
		gc.PaceMap = drop.Map()
		var x *livegen.XDPLive
		if x, err = livegen.NewXDPLive(gc); err == nil {
			defer x.Close()
			g = x
		}
	case "afxdp":
		g, err = livegen.NewAFXDP(gc)
	case "afpacket":
		g, err = livegen.NewAFPacket(gc)
	}
	if err != nil {
		return Sample{}, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := g.Run(runCtx)
		done <- err
	}()
	s, err := cfg.measure(ctx, p, drop, done)
	cancel()
	if !errors.Is(err, errGenStopped) {
		if gerr := <-done; gerr != nil && err == nil && !errors.Is(gerr, context.Canceled) {
			err = gerr
		}
	}
	return s, err
}

// errGenStopped marks measure's error when the generator's done channel
// already delivered its result.
var errGenStopped = errors.New("generator stopped early")

// runTrafgen runs trafgen in A, pinned to the generator CPU, with one packet
// block per flow, until the window is over.
func (cfg *Config) runTrafgen(ctx context.Context, p *testbed.Pair, drop *xdpcount.Counter, path string) (Sample, error) {
	conf, err := trafgenConfig(cfg.spec(p))
	if err != nil {
		return Sample{}, err
	}
	dir, err := os.MkdirTemp("", "lanabench-trafgen-")
	if err != nil {
		return Sample{}, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "frames.cfg")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		return Sample{}, err
	}
	// -P 1: one process (trafgen pins it to CPU 0; taskset keeps it on
	// the generator CPU either way). --no-sock-mem (-A is not accepted by
	// trafgen 0.6.8): leave the host's socket memory
	// sysctls alone; -Q: leave IRQ affinities alone; -C: no CPU report.
	args := []string{"netns", "exec", p.NSA, "taskset", "-c", strconv.Itoa(cfg.GenCPU),
		path, "-o", p.IfA, "-i", file, "-P", "1", "--no-sock-mem", "-Q", "-C", "-S", "128KiB"}
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 2 * time.Second
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	// Its own process group, so that a stuck trafgen can be killed with
	// ip and taskset, which exec it (same pid).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return Sample{}, fmt.Errorf("start trafgen: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	s, err := cfg.measure(ctx, p, drop, done)
	stopped := errors.Is(err, errGenStopped)
	if !stopped {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(2 * time.Second): // stuck in a blocking send
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Process.Kill()
			<-done
		}
	}
	if err != nil {
		return s, fmt.Errorf("%w (trafgen said: %s)", err, lastLine(stderr.String()))
	}
	return s, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// trafgenConfig writes the frames of s in trafgen's packet syntax, one
// packet block per flow; trafgen sends them round robin.
func trafgenConfig(s frames.Spec) (string, error) {
	fs, err := frames.Build(s, s.Flows)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("{ ")
		for i, c := range f {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "0x%02x", c)
		}
		b.WriteString(" }\n")
	}
	return b.String(), nil
}

// txDropped reads A's veth tx_dropped counter: frames the veth refused.
func txDropped(p *testbed.Pair) (uint64, error) {
	var n uint64
	err := p.Do(testbed.A, func() error {
		l, err := netlink.LinkByIndex(p.IndexA)
		if err != nil {
			return fmt.Errorf("link %s: %w", p.IfA, err)
		}
		if st := l.Attrs().Statistics; st != nil {
			n = st.TxDropped
		}
		return nil
	})
	return n, err
}
