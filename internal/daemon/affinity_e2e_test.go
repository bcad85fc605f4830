package daemon_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/lana-net/lana/internal/testbed"
)

// TestControlPlaneOffWorkerCPUs: with its one worker pinned to CPU 0, every
// other thread of lanad (HTTP, GC, the runtime's) may run only on the other
// CPUs, so the control plane never preempts the data path.
func TestControlPlaneOffWorkerCPUs(t *testing.T) {
	p := testbed.New(t, testbed.Options{})
	cfg := config(t, p, "paper.yaml", "cpus: [0, 1]", "cpus: [0]")
	d := startLanad(t, p, cfg, filepath.Join(t.TempDir(), "lanad.sock"))
	d.mustCtl("list") // the API works from the control cpus
	if !strings.Contains(d.log.String(), "control plane kept off the workers' cpus") {
		t.Fatalf("no affinity log line:\n%s", d.log)
	}
	// One worker, a control plane on the other NumCPU-1 cpus, one spare P.
	procs := "GOMAXPROCS raised: each worker keeps a P of its own"
	if want := "to=" + strconv.Itoa(runtime.NumCPU()+1); !strings.Contains(lineWith(d.log.String(), procs), want) {
		t.Fatalf("want a log line %q with %s:\n%s", procs, want, d.log)
	}
	allowed := threadCPUs(t, d.cmd.Process.Pid)
	// One worker thread on CPU 0; every other thread on the rest.
	if allowed["0"] != 1 || len(allowed) != 2 || allowed["1"] < 2 {
		t.Fatalf("threads by allowed cpus: %v; want exactly one on 0 (the worker), the others on 1", allowed)
	}
}

// TestControlPlaneOnConfiguredCPUs: control.cpus puts every thread but the
// worker on the listed cpus, here the worker's own cpu (the lab's layout:
// the other cpu belongs to the traffic generator); a cpu lanad cannot use
// stops it at start with an error naming the setting, before it touches
// the interface.
func TestControlPlaneOnConfiguredCPUs(t *testing.T) {
	p := testbed.New(t, testbed.Options{})
	cfg := config(t, p, "paper.yaml", "cpus: [0, 1]", "cpus: [1]", "  # metrics: 127.0.0.1:9464", "  cpus: [1]")
	d := startLanad(t, p, cfg, filepath.Join(t.TempDir(), "lanad.sock"))
	d.mustCtl("list")
	if l := lineWith(d.log.String(), "control plane confined to the configured cpus"); !strings.Contains(l, "cpus=1") ||
		!strings.Contains(l, "shared_with_workers=[1]") {
		t.Fatalf("no confinement log line naming cpu 1 as shared:\n%s", d.log)
	}
	// One worker, one control cpu, one spare P.
	if l := lineWith(d.log.String(), "GOMAXPROCS raised"); !strings.Contains(l, "to=3") {
		t.Fatalf("GOMAXPROCS: want to=3 (1 worker + 1 control cpu + 1):\n%s", d.log)
	}
	if allowed := threadCPUs(t, d.cmd.Process.Pid); len(allowed) != 1 || allowed["1"] < 3 {
		t.Fatalf("threads by allowed cpus: %v; want every thread on cpu 1", allowed)
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}

	offline := strconv.Itoa(runtime.NumCPU()) // one past the last cpu
	bad := config(t, p, "paper.yaml", "  # metrics: 127.0.0.1:9464", "  cpus: ["+offline+"]")
	out, err := exec.Command("ip", "netns", "exec", p.NSB, filepath.Join(bins, "lanad"), "--config", bad,
		"--socket", filepath.Join(t.TempDir(), "lanad.sock")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "control.cpus") || !strings.Contains(string(out), "cpus "+offline+": not available") {
		t.Fatalf("lanad with control.cpus [%s]: %v\n%s", offline, err, out)
	}
	if xdpAttached(t, p) {
		t.Fatal("a lanad refused at start left its XDP program on the interface")
	}
}

// threadCPUs counts lanad's threads by their allowed cpu list.
func threadCPUs(t *testing.T, pid int) map[string]int {
	t.Helper()
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	tasks, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]int{}
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, task.Name(), "status"))
		if err != nil {
			continue // the thread ended
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				allowed[strings.TrimSpace(v)]++
			}
		}
	}
	return allowed
}

// lineWith returns the first line of log containing s, or "".
func lineWith(log, s string) string {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}
