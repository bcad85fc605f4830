// Command echo is an example LANA application: it asks lanad for a
// socket-export block above a vlink port (or an eth ethertype output) and
// answers every frame it receives with the same ethertype and payload,
// source and destination MACs swapped.
//
//	echo --below e0:port5 [--block echo] [--socket /run/lana/data.sock]
//
// The block lives as long as the program: lanad removes it when the
// connection closes, also when the program is killed.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/lana-net/lana/app"
)

func main() {
	socket := flag.String("socket", "", "lanad's data socket (default /run/lana/data.sock)")
	block := flag.String("block", "echo", "name of the application's block")
	below := flag.String("below", "", "block (or block:output) to bind the application's block above; empty: attach to an existing block")
	flag.Parse()
	if err := run(*socket, *block, *below); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

func run(socket, block, below string) error {
	c, err := app.Dial(socket, app.Options{Block: block, Below: below})
	if err != nil {
		return err
	}
	defer c.Close()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		c.Close()
	}()
	fmt.Fprintf(os.Stderr, "echo: attached to %s (created %v)\n", c.Welcome().Block, c.Welcome().Created)
	buf := make([]byte, 65536)
	for {
		n, err := c.Recv(buf)
		var re *app.RemoteError
		switch {
		case errors.As(err, &re) && !re.Fatal:
			fmt.Fprintln(os.Stderr, "echo:", re.Text)
			continue
		case errors.Is(err, app.ErrClosed):
			return nil
		case err != nil:
			return err
		}
		if n < 14 {
			continue
		}
		answer(buf[:n])
		if err := c.Send(buf[:n]); err != nil {
			return err
		}
	}
}

// answer turns a received frame into its reply in place: destination and
// source MACs swap, ethertype and payload stay.
func answer(f []byte) {
	var dst [6]byte
	copy(dst[:], f[0:6])
	copy(f[0:6], f[6:12])
	copy(f[6:12], dst[:])
}
