package main

import "github.com/spf13/cobra"

func hookCmd() *cobra.Command {
	return verbCmd("hook", "hook NAME", "Make NAME the block received frames enter at", cobra.ExactArgs(1))
}
