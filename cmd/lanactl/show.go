package main

import (
	"fmt"
	"maps"
	"slices"

	"github.com/spf13/cobra"
)

func showCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show a block's options, bindings and counters",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, cancel := conn()
			defer cancel()
			d, err := c.Show(ctx, args[0])
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(d)
			}
			fmt.Printf("block %s (%s)%s\n", d.Name, d.Type, map[bool]string{true: " [hooked]"}[d.Hooked])
			fmt.Printf("  options:     %s\n", optString(d.Options))
			fmt.Printf("  up:          %s\n  down:        %s\n", dash(d.Up), dash(d.Down))
			for _, o := range slices.Sorted(maps.Keys(d.Outputs)) {
				fmt.Printf("  output %-8s -> %s\n", o, dash(d.Outputs[o]))
			}
			if len(d.Subscribers) > 0 {
				fmt.Printf("  subscribers: %v\n", d.Subscribers)
			}
			s := d.Stats
			fmt.Printf("  packets:     %d\n  bytes:       %d\n  vectors:     %d\n  ns/packet:   %.1f\n", s.Packets, s.Bytes, s.Vectors, s.NsPerPacket)
			for _, r := range slices.Sorted(maps.Keys(s.Drops)) {
				fmt.Printf("  drops %-10s %d\n", r+":", s.Drops[r])
			}
			if len(s.Counters) > 0 {
				fmt.Println("  own counters:")
			}
			for _, k := range slices.Sorted(maps.Keys(s.Counters)) {
				fmt.Printf("    %-20s %d\n", k+":", s.Counters[k])
			}
			return nil
		},
	}
}
