package main

import "github.com/spf13/cobra"

func replaceDropCmd() *cobra.Command {
	return verbCmd("replace-drop", "replace-drop OLD NEW", "Put unbound block NEW in OLD's place with fresh state", cobra.ExactArgs(2))
}
