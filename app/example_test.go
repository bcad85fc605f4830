package app_test

import (
	"log"

	"github.com/lana-net/lana/app"
)

// An echo service over vlink port 5: lanad creates block "echo" above the
// vlink v5 for this connection (and removes it when the program ends); every
// frame is answered with its MAC addresses swapped.
func Example() {
	c, err := app.Dial("/run/lana/data.sock", app.Options{Block: "echo", Below: "v5"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 65536)
	for {
		n, err := c.Recv(buf)
		if err != nil {
			log.Fatal(err)
		}
		f := buf[:n]
		var dst [6]byte
		copy(dst[:], f[0:6])
		copy(f[0:6], f[6:12])
		copy(f[6:12], dst[:])
		if err := c.Send(f); err != nil {
			log.Fatal(err)
		}
	}
}
