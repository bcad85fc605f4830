package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func statsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Counters per block, per queue (with the kernel's XDP socket counters) and per XDP program",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, cancel := conn()
			defer cancel()
			s, err := c.Stats(ctx)
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(s)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
			defer tw.Flush()
			fmt.Fprintln(tw, "BLOCK\tPACKETS\tBYTES\tVECTORS\tDROPS\tNS/PKT\t")
			for _, n := range slices.Sorted(maps.Keys(s.Blocks)) {
				b := s.Blocks[n]
				var drops uint64
				for _, d := range b.Drops {
					drops += d
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.1f\t\n", n, b.Packets, b.Bytes, b.Vectors, drops, b.NsPerPacket)
			}
			fmt.Fprintln(tw, "\t\t\t\t\t\t")
			fmt.Fprintln(tw, "QUEUE\tRX\tRX BYTES\tTX\tDROPS\tSWAPS\tXSK RX DROPPED\tRING FULL\tFILL EMPTY\tFILL TARGET\t")
			for _, q := range s.Queues {
				var drops uint64
				for _, d := range q.Drops {
					drops += d
				}
				fmt.Fprintf(tw, "%s/%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", q.Interface, q.Queue.Queue, q.RxPackets, q.RxBytes,
					q.TxPackets, drops, q.Swaps, q.XDP.RxDropped, q.XDP.RxRingFull, q.XDP.RxFillRingEmptyDescs, q.FillTarget)
			}
			fmt.Fprintln(tw, "\t\t\t\t\t\t")
			fmt.Fprintln(tw, "XDP PROGRAM\tREDIRECTED\tNOT STEERED\tNO SOCKET\tSHORT\t")
			for _, p := range s.Programs {
				fmt.Fprintf(tw, "%s (%s)\t%d\t%d\t%d\t%d\t\n", p.Interface, p.Steering, p.Redirected, p.NotSteered, p.NoSocket, p.Short)
			}
			return nil
		},
	}
}
