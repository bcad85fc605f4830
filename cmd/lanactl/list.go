package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func listCmd() *cobra.Command {
	return &cobra.Command{
		Use:       "list [blocks|types|bindings|subscriptions|queues]",
		Short:     "List the running stack (everything, or one part)",
		Args:      cobra.MatchAll(cobra.MaximumNArgs(1), cobra.OnlyValidArgs),
		ValidArgs: []string{"blocks", "types", "bindings", "subscriptions", "queues"},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, cancel := conn()
			defer cancel()
			l, err := c.List(ctx)
			if err != nil {
				return err
			}
			part := ""
			if len(args) == 1 {
				part = args[0]
			}
			if jsonOut {
				switch part {
				case "blocks":
					return printJSON(l.Blocks)
				case "types":
					return printJSON(l.Types)
				case "bindings":
					return printJSON(l.Bindings)
				case "subscriptions":
					return printJSON(l.Subscriptions)
				case "queues":
					return printJSON(l.Queues)
				}
				return printJSON(l)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			defer tw.Flush()
			section := func(name string) {
				if part == "" {
					fmt.Fprintf(tw, "\n%s:\n", strings.ToUpper(name))
				}
			}
			if part == "" || part == "blocks" {
				section("blocks")
				fmt.Fprintln(tw, "NAME\tTYPE\tOPTIONS\tUP\tDOWN\tHOOKED\tSTATE")
				for _, b := range l.Blocks {
					state := "ok"
					if b.Failed != "" {
						state = "FAILED: " + b.Failed
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\t%s\n", b.Name, b.Type, optString(b.Options), dash(b.Up), dash(b.Down), b.Hooked, state)
				}
			}
			if part == "" || part == "bindings" {
				section("bindings")
				for _, b := range l.Bindings {
					fmt.Fprintf(tw, "%s -> %s\n", b.Below, b.Above)
				}
			}
			if part == "" || part == "subscriptions" {
				section("subscriptions")
				for _, s := range l.Subscriptions {
					fmt.Fprintf(tw, "%s hears %s\n", s.Subscriber, s.Block)
				}
			}
			if part == "" || part == "queues" {
				section("queues")
				fmt.Fprintln(tw, "WORKER\tINTERFACE\tQUEUE\tCPU\tPOLL\tXSK\tXDP")
				for _, q := range l.Queues {
					fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t%s\n", q.Worker, q.Interface, q.Queue, cpuString(q.CPU), q.Poll, q.Mode, q.Attach)
				}
			}
			if part == "" || part == "types" {
				section("types")
				fmt.Fprintln(tw, strings.Join(l.Types, " "))
			}
			return nil
		},
	}
}

func optString(o map[string]string) string {
	if len(o) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + o[k]
	}
	return strings.Join(keys, " ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func cpuString(c int) string {
	if c < 0 {
		return "any"
	}
	return fmt.Sprint(c)
}
