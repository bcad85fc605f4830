package main

import "github.com/spf13/cobra"

func rmCmd() *cobra.Command {
	return verbCmd("rm", "rm NAME", "Remove an unbound block", cobra.ExactArgs(1))
}
