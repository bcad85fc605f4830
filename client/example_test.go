package client_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/lana-net/lana/api"
	"github.com/lana-net/lana/client"
)

// Example replaces a running counter by a fresh one that keeps its count,
// as one transaction, and reports a refusal with the daemon's reason.
func Example() {
	c := client.New(api.DefaultSocket)
	ctx := context.Background()
	err := c.Transaction(ctx,
		api.Verb{Op: "add", Args: []string{"count2", "counter"}},
		api.Verb{Op: "replace", Args: []string{"count", "count2"}},
	)
	var refused *client.StatusError
	if errors.As(err, &refused) {
		fmt.Println("lanad refused:", refused.Err.Message, refused.Status)
		return
	}
	if err != nil {
		fmt.Println("no lanad:", err)
		return
	}
	d, err := c.Show(ctx, "count")
	if err == nil {
		fmt.Println("count:", d.Stats.Counters["packets"])
	}
}
