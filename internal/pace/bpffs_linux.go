package pace

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// BPFFS is where bpffs is mounted by convention.
const BPFFS = "/sys/fs/bpf"

// OnBPFFS reports whether dir is on a bpffs mount.
func OnBPFFS(dir string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return st.Type == unix.BPF_FS_MAGIC, nil
}

// PrepareDir makes dir, which must lie on a bpffs mount, ready for pins:
// when dir is under BPFFS and nothing is mounted there, it mounts bpffs at
// BPFFS first (the mount stays: it is the system's usual one). It creates
// dir (not its parents) if missing and reports whether it did, so that the
// caller can remove it.
func PrepareDir(dir string) (created bool, err error) {
	dir = filepath.Clean(dir)
	if dir == BPFFS || strings.HasPrefix(dir, BPFFS+"/") {
		if on, err := OnBPFFS(BPFFS); err != nil {
			return false, err
		} else if !on {
			if err := unix.Mount("bpf", BPFFS, "bpf", 0, "mode=0700"); err != nil {
				return false, fmt.Errorf("mount bpffs at %s: %w", BPFFS, err)
			}
		}
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.Mkdir(dir, 0o700); err != nil {
			return false, fmt.Errorf("pace directory: %w", err)
		}
		created = true
	} else if err != nil {
		return false, fmt.Errorf("pace directory: %w", err)
	}
	on, err := OnBPFFS(dir)
	if err == nil && !on {
		err = fmt.Errorf("pace directory %s: not on a bpffs mount (mount -t bpf bpf DIR)", dir)
	}
	if err != nil && created {
		os.Remove(dir)
		created = false
	}
	return created, err
}
