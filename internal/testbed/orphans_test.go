package testbed

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestReapOrphans leaves namespaces the way a process killed before its
// Close would, with and without an owner file, next to a live Pair, and
// checks that reapOrphans removes exactly the orphans and their files.
func TestReapOrphans(t *testing.T) {
	live := New(t, Options{})
	// A process that has ended: its PID and start time are on record.
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	start, err := processStart(dead)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{ // id -> owner file ("" for none)
		"0rfa01": fmt.Sprintf("%d %d\n", dead, start),
		"0rfa02": "",
		// This process's PID with another start time: a reused PID.
		"0rfa03": fmt.Sprintf("%d %d\n", os.Getpid(), 1),
	}
	for id, owner := range ids {
		if owner != "" {
			if err := os.WriteFile(filepath.Join(ownersDir, id), []byte(owner), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, side := range []string{"-a", "-b"} {
			name := "lana-" + id + side
			if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
				t.Fatalf("ip netns add %s: %v: %s", name, err, out)
			}
			t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
		}
	}
	reaped, err := reapOrphans()
	if err != nil {
		t.Fatal(err)
	}
	for id := range ids {
		for _, side := range []string{"-a", "-b"} {
			name := "lana-" + id + side
			if !slices.Contains(reaped, name) {
				t.Errorf("orphan %s not reaped (reaped %v)", name, reaped)
			}
			if _, err := os.Stat(filepath.Join("/run/netns", name)); err == nil {
				t.Errorf("orphan %s still exists", name)
			}
		}
		if _, err := os.Stat(filepath.Join(ownersDir, id)); err == nil {
			t.Errorf("owner file of %s still exists", id)
		}
	}
	for _, name := range []string{live.NSA, live.NSB} {
		if slices.Contains(reaped, name) {
			t.Errorf("reaped the live pair's %s", name)
		}
		if _, err := os.Stat(filepath.Join("/run/netns", name)); err != nil {
			t.Errorf("live pair's namespace %s: %v", name, err)
		}
	}
	if !alive(live.ID) {
		t.Errorf("the live pair's owner file does not name this process")
	}
}
