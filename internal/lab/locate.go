package lab

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// module is LANA's module path: a source tree of it can build lanad.
const module = "github.com/lana-net/lana"

// ErrNoLanad: no lanad binary to run and no source tree to build one from.
var ErrNoLanad = errors.New("lanad not found next to lanabench, in a LANA source tree or on PATH: " +
	"build it (go build ./cmd/lanad) or measure the engine in process (--lanad=inprocess)")

// ErrNoLanactl: the swap-ctl row drives lanad with lanactl, and there is none.
var ErrNoLanactl = errors.New("lanactl not found next to lanad, next to lanabench or on PATH: build it (go build ./cmd/lanactl)")

// LocateLanad finds the lanad and lanactl binaries for Process, in this
// order: next to the running executable (an installed set), built from the
// LANA source tree the current directory is in (`go run ./cmd/lanabench
// lab` from a fresh clone; the build goes to a temporary directory that
// cleanup removes, and progress to w), or on PATH. lanactl is "" when only
// lanad is found (the swap-ctl row then reports ErrNoLanactl). cleanup is never
// nil.
func LocateLanad(w io.Writer) (lanad, lanactl string, cleanup func(), err error) {
	cleanup = func() {}
	if exe, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(exe), "lanad"); executable(p) {
			return p, LocateLanactl(p), cleanup, nil
		}
	}
	if dir, ok := sourceTree(); ok {
		tmp, err := os.MkdirTemp("", "lanabench-bin-")
		if err != nil {
			return "", "", cleanup, err
		}
		fmt.Fprintf(w, "building lanad and lanactl from %s ...\n", dir)
		cmd := exec.Command("go", "build", "-o", tmp+"/", module+"/cmd/lanad", module+"/cmd/lanactl")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(tmp)
			return "", "", cleanup, fmt.Errorf("build lanad and lanactl: %w: %s", err, strings.TrimSpace(string(out)))
		}
		return filepath.Join(tmp, "lanad"), filepath.Join(tmp, "lanactl"), func() { os.RemoveAll(tmp) }, nil
	}
	if p, err := exec.LookPath("lanad"); err == nil {
		return p, LocateLanactl(p), cleanup, nil
	}
	return "", "", cleanup, ErrNoLanad
}

// LocateLanactl finds lanactl next to the lanad binary, next to the running
// executable or on PATH; "" when there is none.
func LocateLanactl(lanad string) string {
	dirs := []string{filepath.Dir(lanad)}
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe))
	}
	for _, d := range dirs {
		if p := filepath.Join(d, "lanactl"); executable(p) {
			return p
		}
	}
	if p, err := exec.LookPath("lanactl"); err == nil {
		return p
	}
	return ""
}

func executable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// sourceTree returns the root of the LANA module the current directory is
// in, when the go command is there to build it.
func sourceTree() (string, bool) {
	if _, err := exec.LookPath("go"); err != nil {
		return "", false
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", false
	}
	gomod := strings.TrimSpace(string(out))
	f, err := os.Open(gomod)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[0] == "module" {
			return filepath.Dir(gomod), fields[1] == module
		}
	}
	return "", false
}
