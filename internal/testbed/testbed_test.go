package testbed

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestPairPingAndCleanup(t *testing.T) {
	p := New(t, Options{Queues: 2})
	for _, a := range []string{p.AddrA.Addr().String(), p.AddrB.Addr().String()} {
		if !strings.HasPrefix(a, "198.18.") && !strings.HasPrefix(a, "198.19.") {
			t.Fatalf("address %s is outside 198.18.0.0/15", a)
		}
	}
	out, err := exec.Command("ip", "netns", "exec", p.NSA, "ping", "-c", "2", "-i", "0.2", "-W", "2",
		p.AddrB.Addr().String()).CombinedOutput()
	if err != nil {
		t.Fatalf("ping A -> B: %v\n%s", err, out)
	}
	err = p.Do(B, func() error {
		link, err := netlink.LinkByName(p.IfB)
		if err != nil {
			return err
		}
		if got := link.Attrs().NumRxQueues; got != 2 {
			t.Errorf("%s has %d RX queues, want 2", p.IfB, got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	list, _ := exec.Command("ip", "netns", "list").CombinedOutput()
	if strings.Contains(string(list), p.ID) {
		t.Fatalf("namespaces survive Close:\n%s", list)
	}
}
