package main

import "github.com/spf13/cobra"

func bindCmd() *cobra.Command {
	return verbCmd("bind", "bind BELOW[:OUTPUT] ABOVE", "Bind ABOVE on top of BELOW (ingress BELOW -> ABOVE, egress ABOVE -> BELOW)", cobra.ExactArgs(2))
}
