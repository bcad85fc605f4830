package main

import "github.com/spf13/cobra"

func unsubscribeCmd() *cobra.Command {
	return verbCmd("unsubscribe", "unsubscribe BLOCK SUBSCRIBER", "Stop SUBSCRIBER receiving BLOCK's events", cobra.ExactArgs(2))
}
