// Command lanabench generates and measures test traffic for LANA.
//
// Subcommands live in one file each: gen.go (traffic generator).
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := rootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "lanabench:", err)
		os.Exit(1)
	}
}

// subcommands is filled by each subcommand's init, so that adding one means
// adding one file.
var subcommands []func() *cobra.Command

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "lanabench",
		Short:         "Generate and measure test traffic for LANA",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, sub := range subcommands {
		root.AddCommand(sub())
	}
	return root
}
