package daemon_test

import (
	"os"
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
	tasks, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(d.cmd.Process.Pid), "task"))
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]int{}
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(d.cmd.Process.Pid), "task", task.Name(), "status"))
		if err != nil {
			continue // the thread ended
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				allowed[strings.TrimSpace(v)]++
			}
		}
	}
	// One worker thread on CPU 0; every other thread on the rest.
	if allowed["0"] != 1 || len(allowed) != 2 || allowed["1"] < 2 {
		t.Fatalf("threads by allowed cpus: %v; want exactly one on 0 (the worker), the others on 1", allowed)
	}
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
