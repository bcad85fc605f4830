package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lana-net/lana/api"
)

func reloadCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "reload",
		Short: "Make lanad reload its configuration file as one atomic change (like SIGHUP)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, cancel := conn()
			defer cancel()
			if err := c.Reload(ctx); err != nil {
				return err
			}
			if jsonOut {
				return printJSON(api.Result{})
			}
			fmt.Println("ok: reloaded")
			return nil
		},
	}
}
