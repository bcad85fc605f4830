package engine_test

import (
	"fmt"

	_ "github.com/lana-net/lana/blocks"
	"github.com/lana-net/lana/engine"
	"github.com/lana-net/lana/xsk"
)

// Build a stack on a memory-backed queue, push frames through it on the
// calling goroutine, and swap a block while the stack is live.
func Example() {
	q, _ := xsk.NewMemQueue(xsk.UMEMConfig{FrameSize: 2048, FrameCount: 256}, 0, 0)
	e, _ := engine.New(engine.Config{Workers: []engine.WorkerConfig{{Queue: q, UMEM: q.UMEM()}}})
	defer e.Close()
	err := e.Exec(
		"add eth0 eth type.ipv4=0x0800",
		"add fwd dummy",
		"add count counter",
		"bind eth0:ipv4 fwd",
		"bind fwd count",
		"hook eth0",
	)
	fmt.Println("build:", err)
	w := e.Worker(0)
	w.RunOnce() // hands the frames to the fill ring
	frame := make([]byte, 60)
	copy(frame, []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00})
	q.Deliver(frame, 10)
	w.RunOnce()
	// replace keeps the counter's state; a bad verb changes nothing.
	fmt.Println("swap:", e.Exec("add count2 counter", "replace count count2"))
	fmt.Println("bad:", e.Exec("bind eth0 nosuch") != nil)
	q.Deliver(frame, 5)
	w.RunOnce()
	st, _ := e.BlockStats("count")
	fmt.Println("counted:", st.Packets)
	// Output:
	// build: <nil>
	// swap: <nil>
	// bad: true
	// counted: 15
}
