package engine

import "golang.org/x/sys/unix"

// pin binds the calling OS thread to cpu and returns a function that gives
// the thread back the cpus it had before.
func pin(cpu int) (restore func() error, err error) {
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, err
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return nil, err
	}
	return func() error { return unix.SchedSetaffinity(0, &old) }, nil
}
