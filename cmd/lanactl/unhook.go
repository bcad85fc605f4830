package main

import "github.com/spf13/cobra"

func unhookCmd() *cobra.Command {
	return verbCmd("unhook", "unhook", "Detach the entry block (received frames are dropped)", cobra.NoArgs)
}
