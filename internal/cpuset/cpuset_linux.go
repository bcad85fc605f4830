// Package cpuset keeps a process's housekeeping threads off the CPUs its
// pinned data-path threads use.
package cpuset

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// KeepOff moves every thread of the process onto the CPUs it may use other
// than busy, so that the process's housekeeping (HTTP handlers, graph
// compilation, the garbage collector, the runtime's own threads) never
// preempts the data path pinned to busy, nor the NIC receive work beside it.
// Call it before the pinned threads start: each then pins itself, and
// threads created later inherit the remaining CPUs from the thread that
// creates them (Go creates threads for locked goroutines from a template
// thread, which keeps the mask it had before any goroutine pinned itself).
// Negative entries of busy are ignored.
//
// It returns the CPUs left to the process, or an empty set, leaving
// everything as it was, when busy covers every CPU the process may use.
func KeepOff(busy []int) (unix.CPUSet, error) {
	var ctl unix.CPUSet
	if err := unix.SchedGetaffinity(0, &ctl); err != nil {
		return unix.CPUSet{}, fmt.Errorf("read cpu affinity: %w", err)
	}
	for _, c := range busy {
		if c >= 0 {
			ctl.Clear(c)
		}
	}
	if ctl.Count() == 0 {
		return unix.CPUSet{}, nil
	}
	if err := setAll(&ctl); err != nil {
		return unix.CPUSet{}, fmt.Errorf("move threads off cpus %v: %w", busy, err)
	}
	return ctl, nil
}

// Confine moves every thread of the process onto exactly cpus; threads
// created later inherit them, as with KeepOff. It is for a control plane
// placed by configuration: cpus may include the cpus pinned threads use.
// It fails, leaving the process where it was, when a cpu is negative or
// none of cpus is available to the process (offline, or outside its
// cgroup's cpuset).
func Confine(cpus []int) (unix.CPUSet, error) {
	var set, old unix.CPUSet
	for _, c := range cpus {
		if c < 0 || c >= len(set)*64 {
			return unix.CPUSet{}, fmt.Errorf("cpu %d: not available to this process (affinity masks here hold cpus 0 to %d)", c, len(set)*64-1)
		}
		set.Set(c)
	}
	if set.Count() == 0 {
		return unix.CPUSet{}, errors.New("no cpus given")
	}
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return unix.CPUSet{}, fmt.Errorf("read cpu affinity: %w", err)
	}
	// The calling thread first: if the kernel refuses the set, nothing
	// has moved yet.
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return unix.CPUSet{}, fmt.Errorf("cpus %s: not available to this process (offline, or outside its cpuset): %w", List(set), err)
	}
	if err := setAll(&set); err != nil {
		_ = setAll(&old)
		return unix.CPUSet{}, fmt.Errorf("move threads to cpus %s: %w", List(set), err)
	}
	return set, nil
}

// setAll gives every thread of the process the affinity set.
func setAll(set *unix.CPUSet) error {
	// Threads may start while the first pass runs; the second catches them.
	for pass := 0; pass < 2; pass++ {
		tids, err := Threads(0)
		if err != nil {
			return err
		}
		for _, tid := range tids {
			if err := unix.SchedSetaffinity(tid, set); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("thread %d: %w", tid, err)
			}
		}
	}
	return nil
}

// Threads lists the thread ids of process pid (0: the calling process),
// from /proc.
func Threads(pid int) ([]int, error) {
	dir := "/proc/self/task"
	if pid != 0 {
		dir = "/proc/" + strconv.Itoa(pid) + "/task"
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list threads: %w", err)
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// List formats set as "0,2,3".
func List(set unix.CPUSet) string {
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
