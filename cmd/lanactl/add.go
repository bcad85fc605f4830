package main

import "github.com/spf13/cobra"

func addCmd() *cobra.Command {
	return verbCmd("add", "add NAME TYPE [key=value ...]", "Create block NAME of type TYPE with options", cobra.MinimumNArgs(2))
}
