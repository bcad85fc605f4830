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

// LocateLanad finds the lanad binary for Process, in this order: next to
// the running executable (an installed pair), built from the LANA source
// tree the current directory is in (`go run ./cmd/lanabench lab` from a
// fresh clone; the build goes to a temporary directory that cleanup
// removes, and progress to w), or lanad on PATH. cleanup is never nil.
func LocateLanad(w io.Writer) (path string, cleanup func(), err error) {
	cleanup = func() {}
	if exe, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(exe), "lanad"); executable(p) {
			return p, cleanup, nil
		}
	}
	if dir, ok := sourceTree(); ok {
		tmp, err := os.MkdirTemp("", "lanabench-bin-")
		if err != nil {
			return "", cleanup, err
		}
		p := filepath.Join(tmp, "lanad")
		fmt.Fprintf(w, "building lanad from %s ...\n", dir)
		cmd := exec.Command("go", "build", "-o", p, module+"/cmd/lanad")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(tmp)
			return "", cleanup, fmt.Errorf("build lanad: %w: %s", err, strings.TrimSpace(string(out)))
		}
		return p, func() { os.RemoveAll(tmp) }, nil
	}
	if p, err := exec.LookPath("lanad"); err == nil {
		return p, cleanup, nil
	}
	return "", cleanup, ErrNoLanad
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
