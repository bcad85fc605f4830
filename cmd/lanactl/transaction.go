package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lana-net/lana/api"
)

func transactionCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "transaction [\"VERB ARGS...\" ...]",
		Short: "Apply several verbs all or none (from arguments, or one per line from --file, '-' for stdin)",
		Example: `  lanactl transaction "add c1 counter" "replace c0 c1"
  lanactl transaction -f changes.txt`,
		RunE: func(cmd *cobra.Command, args []string) error {
			lines := args
			if file != "" {
				var r io.Reader = os.Stdin
				if file != "-" {
					f, err := os.Open(file)
					if err != nil {
						return err
					}
					defer f.Close()
					r = f
				}
				s := bufio.NewScanner(r)
				for s.Scan() {
					lines = append(lines, s.Text())
				}
				if err := s.Err(); err != nil {
					return err
				}
			}
			var verbs []api.Verb
			for i, l := range lines {
				l = strings.TrimSpace(l)
				if l == "" || strings.HasPrefix(l, "#") {
					continue
				}
				v, err := parseVerb(strings.Fields(l))
				if err != nil {
					return fmt.Errorf("verb %d: %w", i+1, err)
				}
				verbs = append(verbs, v)
			}
			if len(verbs) == 0 {
				return fmt.Errorf("no verbs given")
			}
			c, ctx, cancel := conn()
			defer cancel()
			if err := c.Transaction(ctx, verbs...); err != nil {
				return err
			}
			if jsonOut {
				return printJSON(api.Result{Applied: len(verbs)})
			}
			fmt.Printf("ok: %d verbs applied\n", len(verbs))
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "read verbs from this file, one per line ('-': stdin)")
	return cmd
}
