package main

import "github.com/spf13/cobra"

func setCmd() *cobra.Command {
	return verbCmd("set", "set NAME key=value [key=value ...]", "Change options of a block (an invalid value is refused, the old stays)", cobra.MinimumNArgs(2))
}
