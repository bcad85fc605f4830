package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lana-net/lana/api"
)

func graphCmd() *cobra.Command {
	var dot bool
	cmd := &cobra.Command{
		Use:   "graph [--dot]",
		Short: "Print the stack's topology with live per-block counters (--dot: GraphViz)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, cancel := conn()
			defer cancel()
			l, err := c.List(ctx)
			if err != nil {
				return err
			}
			s, err := c.Stats(ctx)
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(struct {
					api.List
					Stats api.Stats `json:"stats"`
				}{l, s})
			}
			if dot {
				writeDot(os.Stdout, l, s)
				return nil
			}
			writeTree(os.Stdout, l, s)
			return nil
		},
	}
	cmd.Flags().BoolVar(&dot, "dot", false, "emit GraphViz dot")
	return cmd
}

func label(b api.Block, s api.Stats) string {
	st := s.Blocks[b.Name]
	out := fmt.Sprintf("%s (%s) %d pkts", b.Name, b.Type, st.Packets)
	var drops uint64
	for _, d := range st.Drops {
		drops += d
	}
	if drops > 0 {
		out += fmt.Sprintf(", %d drops", drops)
	}
	return out
}

// writeTree prints every stack from its bottom block up: the hooked block
// first, then blocks with nothing below them.
func writeTree(w io.Writer, l api.List, s api.Stats) {
	byName := map[string]api.Block{}
	for _, b := range l.Blocks {
		byName[b.Name] = b
	}
	var roots []string
	if l.Hook != "" {
		roots = append(roots, l.Hook)
	}
	for _, b := range l.Blocks {
		if b.Down == "" && b.Name != l.Hook {
			roots = append(roots, b.Name)
		}
	}
	var walk func(name, prefix, edge string, last bool, depth int)
	walk = func(name, prefix, edge string, last bool, depth int) {
		b := byName[name]
		branch, next := "", ""
		if depth > 0 {
			branch, next = "├─ ", "│  "
			if last {
				branch, next = "└─ ", "   "
			}
		}
		fmt.Fprintf(w, "%s%s%s%s\n", prefix, branch, edge, label(b, s))
		type child struct{ name, edge string }
		var kids []child
		if b.Up != "" {
			kids = append(kids, child{b.Up, ""})
		}
		for _, o := range slices.Sorted(maps.Keys(b.Outputs)) {
			if up := b.Outputs[o]; up != "" {
				kids = append(kids, child{up, "[" + o + "] "})
			}
		}
		for i, k := range kids {
			walk(k.name, prefix+next, k.edge, i == len(kids)-1, depth+1)
		}
	}
	for _, r := range roots {
		if r == l.Hook {
			fmt.Fprint(w, "NIC -> ")
		}
		walk(r, "", "", true, 0)
	}
}

func writeDot(w io.Writer, l api.List, s api.Stats) {
	q := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }
	fmt.Fprintln(w, "digraph lana {")
	fmt.Fprintln(w, "  rankdir=BT;")
	fmt.Fprintln(w, "  node [shape=box];")
	if l.Hook != "" {
		fmt.Fprintln(w, `  "NIC" [shape=ellipse];`)
		fmt.Fprintf(w, "  \"NIC\" -> %s;\n", q(l.Hook))
	}
	for _, b := range l.Blocks {
		st := s.Blocks[b.Name]
		fmt.Fprintf(w, "  %s [label=%s];\n", q(b.Name), q(fmt.Sprintf("%s\\n%s\\n%d pkts", b.Name, b.Type, st.Packets)))
	}
	for _, b := range l.Bindings {
		below, out, _ := strings.Cut(b.Below, ":")
		attr := ""
		if out != "" {
			attr = " [label=" + q(out) + "]"
		}
		fmt.Fprintf(w, "  %s -> %s%s;\n", q(below), q(b.Above), attr)
	}
	fmt.Fprintln(w, "}")
}
