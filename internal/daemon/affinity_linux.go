package daemon

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// keepOffWorkerCPUs moves every thread of the process onto the CPUs that no
// worker is pinned to, so that the control plane (HTTP handlers, graph
// compilation, the garbage collector, the runtime's own threads) never
// preempts a worker or the NIC receive work sharing its CPU. Call it before
// the workers start: each worker then pins its own thread to its CPU, and
// threads created later inherit the control CPUs from the thread that
// creates them (Go creates threads for locked goroutines from a template
// thread, which keeps the mask it had before any worker pinned itself).
//
// It returns the control CPUs, or an empty set, leaving everything as it
// was, when the workers cover every CPU the process may use.
func keepOffWorkerCPUs(workerCPUs []int) (unix.CPUSet, error) {
	var ctl unix.CPUSet
	if err := unix.SchedGetaffinity(0, &ctl); err != nil {
		return unix.CPUSet{}, fmt.Errorf("read cpu affinity: %w", err)
	}
	for _, c := range workerCPUs {
		if c >= 0 {
			ctl.Clear(c)
		}
	}
	if ctl.Count() == 0 {
		return unix.CPUSet{}, nil
	}
	// Threads may start while the first pass runs; the second catches them.
	for pass := 0; pass < 2; pass++ {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return unix.CPUSet{}, fmt.Errorf("list threads: %w", err)
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &ctl); err != nil && !errors.Is(err, unix.ESRCH) {
				return unix.CPUSet{}, fmt.Errorf("move thread %d to the control cpus: %w", tid, err)
			}
		}
	}
	return ctl, nil
}

// cpuList formats set as "0,2,3".
func cpuList(set unix.CPUSet) string {
	s := ""
	for c := 0; c < len(set)*64; c++ {
		if set.IsSet(c) {
			if s != "" {
				s += ","
			}
			s += strconv.Itoa(c)
		}
	}
	return s
}
