package main

import "github.com/spf13/cobra"

func replaceCmd() *cobra.Command {
	return verbCmd("replace", "replace OLD NEW", "Put unbound block NEW in OLD's place, taking OLD's name, bindings and state (same type)", cobra.ExactArgs(2))
}
