package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/lana-net/lana/api"
)

func saveCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "save [-o FILE]",
		Short: "Print (or write) the running stack as a configuration file lanad loads unchanged",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, cancel := conn()
			defer cancel()
			cfg, err := c.Save(ctx)
			if err != nil {
				return err
			}
			if out != "" {
				if err := os.WriteFile(out, []byte(cfg), 0o644); err != nil {
					return err
				}
			}
			switch {
			case jsonOut:
				return printJSON(api.Saved{Config: cfg})
			case out == "":
				fmt.Print(cfg)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the configuration to FILE")
	return cmd
}
