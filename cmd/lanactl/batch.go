package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/lana-net/lana/api"
)

// batchSummary is what batch reports at the end (--json prints it).
type batchSummary struct {
	Transactions int `json:"transactions"` // applied
	Verbs        int `json:"verbs"`        // in the applied transactions
	Failed       int `json:"failed"`       // refused (only with --keep-going)
}

func batchCmd() *cobra.Command {
	var file string
	var quiet, keepGoing bool
	cmd := &cobra.Command{
		Use:   "batch",
		Short: "Apply a stream of transactions, one per line of stdin or --file (verbs separated by ';')",
		Long: `batch reads transactions, one per line, and applies each, all or none, in
order, over one connection to lanad: a script or an autonomic agent can
reconfigure the stack as often as it likes without starting a lanactl per
change (it uses the API's stream route: one connection, one JSON line per
transaction each way). Verbs within a line are separated by ';'; empty lines and lines
starting with '#' are skipped. Each line is applied as soon as it is read, so
a producer can feed lines as it decides them.

batch stops at the first refused line: the lines before it stay applied, the
error names the line, and lanactl exits non-zero. With --keep-going it goes
on, counts the refusals and exits non-zero at the end if there were any.`,
		Example: `  printf 'add c1 counter; replace c0 c1\nadd c2 counter; replace c1 c2\n' | lanactl batch
  lanactl batch --quiet -f changes.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			stdin, restore := pollable(os.Stdin)
			defer restore()
			r, done, err := input(file, stdin)
			if err != nil {
				return err
			}
			defer done()
			sum, err := runBatch(r, os.Stdout, quiet || jsonOut, keepGoing)
			if sum == nil { // no stream: nothing was tried
				return err
			}
			if jsonOut {
				if perr := printJSON(sum); perr != nil && err == nil {
					err = perr
				}
			} else if !quiet {
				fmt.Printf("ok: %d transactions (%d verbs) applied", sum.Transactions, sum.Verbs)
				if sum.Failed > 0 {
					fmt.Printf(", %d refused", sum.Failed)
				}
				fmt.Println()
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "read transactions from this file instead of stdin ('-': stdin)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing but errors")
	cmd.Flags().BoolVar(&keepGoing, "keep-going", false, "go on after a refused line")
	return cmd
}

// runBatch applies r's lines as transactions; unless quiet it prints one
// "ok" line per applied transaction to w. Each transaction gets --timeout.
// The summary is nil when the stream could not be opened.
func runBatch(r io.Reader, w io.Writer, quiet, keepGoing bool) (*batchSummary, error) {
	c, ctx, cancel := conn()
	st, err := c.OpenStream(ctx)
	cancel()
	if err != nil {
		return nil, err
	}
	sum := &batchSummary{}
	defer st.Close()
	err = eachTransaction(r, func(n int, verbs []api.Verb, err error) error {
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			err = st.Apply(ctx, verbs...)
			cancel()
		}
		if err != nil {
			err = fmt.Errorf("line %d: %w", n, err)
			if !keepGoing {
				return err
			}
			fmt.Fprintln(os.Stderr, "lanactl:", err)
			sum.Failed++
			return nil
		}
		sum.Transactions++
		sum.Verbs += len(verbs)
		if !quiet {
			fmt.Fprintf(w, "ok: line %d: %d verbs applied\n", n, len(verbs))
		}
		return nil
	})
	if err != nil {
		return sum, err
	}
	if sum.Failed > 0 {
		return sum, fmt.Errorf("%d of %d transactions refused", sum.Failed, sum.Failed+sum.Transactions)
	}
	return sum, nil
}

// input returns the reader of --file: stdin when file is "" or "-", else
// the file, which done closes.
func input(file string, stdin io.Reader) (r io.Reader, done func(), err error) {
	if file == "" || file == "-" {
		return stdin, func() {}, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

// eachTransaction calls fn with each transaction line of r, as it is read:
// its line number and its verbs, or why they do not parse. Empty lines and
// lines starting with '#' are skipped. It stops at fn's first error.
func eachTransaction(r io.Reader, fn func(n int, verbs []api.Verb, err error) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), api.MaxBody)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		verbs, err := parseLine(line)
		if err := fn(n, verbs, err); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read transactions: %w", err)
	}
	return nil
}

// parseLine reads one batch line: verbs separated by ';'.
func parseLine(line string) ([]api.Verb, error) {
	var verbs []api.Verb
	for i, part := range strings.Split(line, ";") {
		words := strings.Fields(part)
		if len(words) == 0 {
			return nil, fmt.Errorf("verb %d: empty (two ';' in a row, or one at the end)", i+1)
		}
		v, err := parseVerb(words)
		if err != nil {
			return nil, fmt.Errorf("verb %d: %w", i+1, err)
		}
		verbs = append(verbs, v)
	}
	return verbs, nil
}

// pollable returns f for reading through the Go runtime's poller when it is
// a pipe or socket (set non-blocking; restore puts the blocking mode back),
// and f itself otherwise. A goroutine waiting in a blocking read(2) on a
// pipe holds its thread in the kernel, and the runtime's monitor takes its
// P from it, waking every 20µs for a while after each take: a producer
// feeding a line every few milliseconds then costs a dozen thread wakeups a
// line instead of one.
func pollable(f *os.File) (io.Reader, func()) {
	fd := int(f.Fd())
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return f, func() {}
	}
	if m := st.Mode & unix.S_IFMT; m != unix.S_IFIFO && m != unix.S_IFSOCK {
		return f, func() {} // a terminal or a file: leave it as it is
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return f, func() {}
	}
	// A second File on the same descriptor, kept until restore: NewFile
	// sees the non-blocking mode and registers it with the poller.
	nf := os.NewFile(uintptr(fd), f.Name())
	return nf, func() {
		unix.SetNonblock(fd, false)
		runtime.KeepAlive(nf) // its finalizer would close the descriptor
	}
}
