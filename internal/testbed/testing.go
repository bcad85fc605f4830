package testbed

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// RequireEnv names the environment variable that turns missing privileges
// from a skip into a failure. The README's test command and CI set it.
const RequireEnv = "LANA_REQUIRE_PRIVILEGED"

// RequirePrivileges skips t when the process cannot create namespaces, veths
// and XDP programs, or fails it when RequireEnv is set to 1: under the
// README's test command and in CI the integration tests must run.
func RequirePrivileges(t testing.TB) {
	t.Helper()
	if Privileged() {
		return
	}
	msg := "needs root (or CAP_NET_ADMIN, CAP_BPF and CAP_SYS_ADMIN) for namespaces, veth and XDP"
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s; %s=1 forbids skipping", msg, RequireEnv)
	}
	t.Skip(msg)
}

// Privileged reports whether the process holds the capabilities the
// integration tests need.
func Privileged() bool {
	if os.Geteuid() == 0 {
		return true
	}
	var hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	has := func(c uint) bool { return data[c/32].Effective&(1<<(c%32)) != 0 }
	return has(unix.CAP_NET_ADMIN) && has(unix.CAP_SYS_ADMIN) && has(unix.CAP_BPF)
}

// New returns a fresh Pair for t, removed by t.Cleanup even when t fails. It
// applies RequirePrivileges first.
func New(t testing.TB, opts Options) *Pair {
	t.Helper()
	RequirePrivileges(t)
	p, err := NewPair(opts)
	if err != nil {
		t.Fatalf("testbed: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("testbed cleanup: %v", err)
		}
	})
	return p
}
