package main

import "github.com/spf13/cobra"

func subscribeCmd() *cobra.Command {
	return verbCmd("subscribe", "subscribe BLOCK SUBSCRIBER", "Make SUBSCRIBER receive BLOCK's events", cobra.ExactArgs(2))
}
