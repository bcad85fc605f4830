package cpuset

import (
	"os"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestConfine moves every thread of the test process onto one cpu and back,
// and checks that a cpu the process cannot use changes nothing.
func TestConfine(t *testing.T) {
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		t.Fatal(err)
	}
	var all []int
	for c := 0; c < len(old)*64; c++ {
		if old.IsSet(c) {
			all = append(all, c)
		}
	}
	defer func() {
		if _, err := Confine(all); err != nil {
			t.Fatalf("restore cpus %v: %v", all, err)
		}
	}()
	// A thread of its own, started before Confine, must move too.
	started, stop := make(chan int), make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		started <- unix.Gettid()
		<-stop
	}()
	tid := <-started
	defer close(stop)

	last := all[len(all)-1]
	set, err := Confine([]int{last})
	if err != nil {
		t.Fatal(err)
	}
	if set.Count() != 1 || !set.IsSet(last) {
		t.Fatalf("Confine returned %s, want %d", List(set), last)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, task := range tasks {
		id, _ := strconv.Atoi(task.Name())
		var got unix.CPUSet
		if err := unix.SchedGetaffinity(id, &got); err != nil {
			continue // ended
		}
		seen = seen || id == tid
		if got != set {
			t.Errorf("thread %d on cpus %s, want %d", id, List(got), last)
		}
	}
	if !seen {
		t.Fatalf("the locked thread %d was not among the process's threads", tid)
	}

	if _, err := Confine([]int{len(old) * 64}); err == nil {
		t.Fatal("Confine to a cpu beyond the mask succeeded")
	}
	if _, err := Confine([]int{runtime.NumCPU() + 64}); err == nil {
		t.Fatal("Confine to an absent cpu succeeded")
	}
	var now unix.CPUSet
	unix.SchedGetaffinity(0, &now)
	if now != set {
		t.Fatalf("a refused Confine moved the thread to %s", List(now))
	}
}

// TestThreads lists the calling thread among the process's, by 0 and by
// pid alike, and fails for a process that does not exist.
func TestThreads(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	me := unix.Gettid()
	for _, pid := range []int{0, os.Getpid()} {
		tids, err := Threads(pid)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, tid := range tids {
			found = found || tid == me
		}
		if !found {
			t.Errorf("Threads(%d) = %v: the calling thread %d is missing", pid, tids, me)
		}
	}
	if _, err := Threads(1 << 30); err == nil {
		t.Error("threads of a process that does not exist: no error")
	}
}
