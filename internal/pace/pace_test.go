package pace

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lana-net/lana/internal/testbed"
)

// TestPinOpen pins a counter in bpffs and reads it back through Open, as
// lanad and the lab do across processes.
func TestPinOpen(t *testing.T) {
	testbed.RequirePrivileges(t)
	dir := filepath.Join(BPFFS, fmt.Sprintf("lana-pace-test-%d", os.Getpid()))
	created, err := PrepareDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Fatalf("%s existed before the test", dir)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	path := filepath.Join(dir, "pace0")
	if err := c.Pin(path); err != nil {
		t.Fatal(err)
	}
	if err := c.Pin(path); !errors.Is(err, os.ErrExist) {
		t.Errorf("second pin at the same path: %v, want ErrExist", err)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, v := range []uint64{1, 64, 1 << 40} {
		c.Store(v)
		if got := r.Load(); got != v {
			t.Errorf("reader sees %d after Store(%d)", got, v)
		}
	}
	c.Add(3)
	if got, want := r.Load(), uint64(1<<40+3); got != want {
		t.Errorf("reader sees %d after Add(3), want %d", got, want)
	}
	var v uint64
	if err := r.Map().Lookup(uint32(0), &v); err != nil || v != 1<<40+3 {
		t.Errorf("map lookup: %d, %v", v, err)
	}
	if err := c.Unpin(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pin still there after Unpin: %v", err)
	}
	if _, err := Open(path); err == nil {
		t.Errorf("Open after Unpin succeeded")
	}
}

// TestPrepareDirRefusesOtherFS: a directory outside bpffs cannot hold pins.
func TestPrepareDirRefusesOtherFS(t *testing.T) {
	testbed.RequirePrivileges(t)
	dir := filepath.Join(t.TempDir(), "pins")
	if _, err := PrepareDir(dir); err == nil {
		t.Fatalf("PrepareDir(%s) on a non-bpffs directory succeeded", dir)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("PrepareDir left %s behind: %v", dir, err)
	}
}
