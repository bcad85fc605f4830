package testbed

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// ownersDir holds one file per live Pair, named by its ID, that says which
// process made it ("PID STARTTIME"). It lives on /run, a tmpfs, like
// /run/netns, so both vanish together at boot.
const ownersDir = "/run/lana-testbed"

// A Pair's Close never runs when its process dies first: a test binary
// ended by its -timeout, a signal, a crash. The next NewPair of any process
// removes such a Pair's namespaces (with them go its veths and their XDP
// programs): the ones whose owner file names a process that is gone, and
// the ones with no owner file, which NewPair writes before it creates a
// namespace.
var reapOnce sync.Once

// claim writes the owner file of id for this process.
func claim(id string) error {
	if err := os.MkdirAll(ownersDir, 0o755); err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	self, err := processStart(os.Getpid())
	if err != nil {
		return fmt.Errorf("testbed: own start time: %w", err)
	}
	owner := fmt.Sprintf("%d %d\n", os.Getpid(), self)
	if err := os.WriteFile(filepath.Join(ownersDir, id), []byte(owner), 0o644); err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	return nil
}

// release removes id's owner file.
func release(id string) error {
	if err := os.Remove(filepath.Join(ownersDir, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("testbed: %w", err)
	}
	return nil
}

// reapOrphans deletes the namespaces of Pairs whose process is gone, and
// their owner files; it returns the namespaces it deleted and what failed.
func reapOrphans() (reaped []string, err error) {
	entries, err := os.ReadDir("/run/netns")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	var errs []error
	for _, e := range entries {
		id, ok := pairID(e.Name())
		if !ok || alive(id) {
			continue
		}
		if out, err := exec.Command("ip", "netns", "del", e.Name()).CombinedOutput(); err != nil {
			// A Pair closing now deletes its namespaces before its owner
			// file: one read between the two is already gone, not an orphan.
			if _, serr := os.Stat(filepath.Join("/run/netns", e.Name())); errors.Is(serr, os.ErrNotExist) {
				continue
			}
			errs = append(errs, fmt.Errorf("testbed: delete orphaned namespace %s: %w: %s", e.Name(), err, strings.TrimSpace(string(out))))
			continue
		}
		reaped = append(reaped, e.Name())
	}
	// Owner files of Pairs that are gone entirely.
	owners, _ := os.ReadDir(ownersDir)
	for _, o := range owners {
		if !alive(o.Name()) {
			errs = append(errs, release(o.Name()))
		}
	}
	return reaped, errors.Join(errs...)
}

// pairID returns the ID of a Pair's namespace name ("lana-ID-a" or "-b").
func pairID(ns string) (string, bool) {
	rest, ok := strings.CutPrefix(ns, "lana-")
	if !ok || len(rest) != 8 || (!strings.HasSuffix(rest, "-a") && !strings.HasSuffix(rest, "-b")) {
		return "", false
	}
	return rest[:6], true
}

// alive reports whether the process that made Pair id still runs.
func alive(id string) bool {
	b, err := os.ReadFile(filepath.Join(ownersDir, id))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return false
	}
	pid, err1 := strconv.Atoi(f[0])
	start, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	now, err := processStart(pid)
	return err == nil && now == start // a reused PID has another start time
}

// processStart returns the start time of process pid (field 22 of
// /proc/PID/stat, in clock ticks since boot).
func processStart(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; it ends at the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(f))
	}
	return strconv.ParseUint(f[19], 10, 64) // field 22 is the 20th after the name
}
