package main

import "github.com/spf13/cobra"

func unbindCmd() *cobra.Command {
	return verbCmd("unbind", "unbind BELOW[:OUTPUT] ABOVE", "Undo bind BELOW ABOVE", cobra.ExactArgs(2))
}
