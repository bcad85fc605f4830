// Command lanactl drives lanad through its control API: one subcommand per
// LANA verb (add, rm, set, bind, unbind, replace, replace-drop, subscribe,
// unsubscribe, hook, unhook), a transaction of several verbs applied all or
// none, and list, show, stats, save, graph and reload. Every command takes
// --socket and --json; on failure it prints the daemon's message and exits
// non-zero.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lana-net/lana/api"
	"github.com/lana-net/lana/client"
)

// flags shared by every subcommand; set by cobra before RunE.
var (
	socketPath string
	jsonOut    bool
	timeout    time.Duration
)

func main() {
	root := newRoot()
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "lanactl:", err)
		if hint := connectHint(err); hint != "" {
			fmt.Fprintln(os.Stderr, "lanactl:", hint)
		}
		os.Exit(1)
	}
}

// connectHint says what to check when the control socket could not be
// reached, or "" for any other error.
func connectHint(err error) string {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		return ""
	}
	switch {
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("is lanad running? it listens on its configuration's control.socket; --socket or $LANAD_SOCKET point lanactl there (now %s)", socketPath)
	case errors.Is(err, syscall.EACCES):
		return "only root and members of lanad's control.group may use its socket"
	}
	return ""
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "lanactl",
		Short:         "Control lanad, the LANA daemon",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&socketPath, "socket", envOr("LANAD_SOCKET", api.DefaultSocket), "lanad's control socket ($LANAD_SOCKET)")
	root.PersistentFlags().BoolVar(&jsonOut, "json", false, "print JSON instead of text")
	root.PersistentFlags().DurationVar(&timeout, "timeout", 30*time.Second, "give up after this long")
	root.AddCommand(addCmd(), rmCmd(), setCmd(), bindCmd(), unbindCmd(), replaceCmd(), replaceDropCmd(),
		subscribeCmd(), unsubscribeCmd(), hookCmd(), unhookCmd(), transactionCmd(), batchCmd(), replayCmd(),
		listCmd(), showCmd(), statsCmd(), saveCmd(), graphCmd(), reloadCmd(),
		captureCmd())
	return root
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// conn returns a client and a context bounded by --timeout.
func conn() (*client.Client, context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	return client.New(socketPath), ctx, cancel
}

// printJSON writes v indented to stdout.
func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseVerb reads a verb from command-line words: op, then arguments; for
// add (after NAME TYPE) and set (after NAME), k=v words are options.
func parseVerb(words []string) (api.Verb, error) {
	if len(words) == 0 {
		return api.Verb{}, fmt.Errorf("empty verb")
	}
	v := api.Verb{Op: words[0]}
	fixed := len(words) - 1
	switch v.Op {
	case "add":
		fixed = 2
	case "set":
		fixed = 1
	}
	for i, w := range words[1:] {
		if i < fixed {
			v.Args = append(v.Args, w)
			continue
		}
		k, val, ok := strings.Cut(w, "=")
		if !ok {
			return api.Verb{}, fmt.Errorf("%s: option %q: want key=value", v.Op, w)
		}
		if v.Options == nil {
			v.Options = map[string]string{}
		}
		v.Options[k] = val
	}
	return v, nil
}

// runVerb sends one verb and reports it.
func runVerb(words []string) error {
	v, err := parseVerb(words)
	if err != nil {
		return err
	}
	c, ctx, cancel := conn()
	defer cancel()
	if err := c.Verb(ctx, v); err != nil {
		return err
	}
	if jsonOut {
		return printJSON(api.Result{Applied: 1})
	}
	fmt.Println("ok:", v.String())
	return nil
}

// verbCmd builds the subcommand of a fixed-arity verb.
func verbCmd(op, use, short string, args cobra.PositionalArgs) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args,
		RunE: func(cmd *cobra.Command, a []string) error {
			return runVerb(append([]string{op}, a...))
		},
	}
}
