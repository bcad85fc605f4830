package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lana-net/lana/api"
	"github.com/lana-net/lana/client"
)

func replayCmd() *cobra.Command {
	var file string
	var every, dur time.Duration
	var count int
	cmd := &cobra.Command{
		Use:   "replay --every PERIOD (--count N | --for DURATION)",
		Short: "Make lanad apply transactions (one per line of stdin or --file) in turn, one every PERIOD",
		Long: `replay reads transactions, one per line as for batch (verbs separated by
';', empty lines and lines starting with '#' skipped), and hands them all to
lanad, which applies them itself: the first at once, then one every PERIOD,
cycling through the list, until N were applied or DURATION has passed. It
is the soak test of a reconfiguration: swap between two stacks every 10ms
for an hour while traffic flows, then look at the counters. lanad keeps the
pace to its own timer, so the changes come on time whatever the client's
machine does, and no change costs a round trip.

Every transaction is checked before the first is applied. One refused on
the way ends the replay; what was applied before it stays applied, and
lanactl exits non-zero. Ctrl-C ends the replay too. At the end lanactl
prints how many transactions were applied, how many periods were skipped
because a transaction took longer than PERIOD ("late"), how many were
applied a period or more after their time ("delayed": while frames flow,
lanad's workers apply the changes themselves, and when the frames stop
mid-way the rest of a 100ms chain waits for its end), and why it stopped.`,
		Example: `  printf 'add d-a dummy; replace d d-a\nadd d-b dummy; replace d d-b\n' | lanactl replay --every 10ms --for 1m
  lanactl replay --every 100ms --count 50 -f flips.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if every <= 0 {
				return errors.New("--every: required, the period between transactions (e.g. 10ms)")
			}
			if count <= 0 && dur <= 0 {
				return errors.New("say when to stop: --count N, --for DURATION or both")
			}
			r, done, err := input(file, os.Stdin)
			if err != nil {
				return err
			}
			defer done()
			txns, err := readTransactions(r)
			if err != nil {
				return err
			}
			req := api.Replay{Transactions: txns, Every: every.String(), Count: count}
			if dur > 0 {
				req.For = dur.String()
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			res, err := client.New(socketPath).Replay(ctx, req)
			if err != nil {
				if ctx.Err() != nil {
					return errors.New("interrupted: lanad ended the replay")
				}
				return err
			}
			if jsonOut {
				if err := printJSON(res); err != nil {
					return err
				}
			} else {
				fmt.Printf("%d transactions (%d verbs) applied in %s, one every %v; %d late, %d delayed; stopped: %s\n",
					res.Applied, res.Verbs, res.Elapsed, every, res.Late, res.Delayed, res.Stopped)
			}
			if res.Error != nil {
				return res.Error
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "read transactions from this file instead of stdin ('-': stdin)")
	cmd.Flags().DurationVar(&every, "every", 0, "period between transactions (at least 1ms)")
	cmd.Flags().IntVar(&count, "count", 0, "stop after this many transactions")
	cmd.Flags().DurationVar(&dur, "for", 0, "stop after this long (at most 24h)")
	return cmd
}

// readTransactions reads batch-style lines: one transaction per line, verbs
// separated by ';', empty and '#' lines skipped.
func readTransactions(r io.Reader) ([]api.Transaction, error) {
	var txns []api.Transaction
	err := eachTransaction(r, func(n int, verbs []api.Verb, err error) error {
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		txns = append(txns, api.Transaction{Verbs: verbs})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(txns) == 0 {
		return nil, errors.New("no transactions: give one per line on stdin or in --file")
	}
	return txns, nil
}
