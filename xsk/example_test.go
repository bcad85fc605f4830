package xsk_test

import (
	"fmt"
	"log"
	"time"

	"github.com/lana-net/lana/xsk"
)

// ExampleOpen opens a socket on queue 0 of an interface, steers LANA's
// ethertypes into it and bounces every received frame back out. It must run
// as root in the interface's namespace.
func ExampleOpen() {
	const ifindex = 2
	s, err := xsk.Open(ifindex, 0, xsk.Config{
		UMEM:   xsk.UMEMConfig{FrameSize: 2048, FrameCount: 4096, FillSize: 4096},
		RXSize: 2048, TXSize: 2048,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	prog, err := xsk.NewProgram(xsk.ProgramConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer prog.Close()
	if _, err := prog.Attach(ifindex); err != nil {
		log.Fatal(err)
	}
	if err := prog.Register(s.Queue(), s.FD()); err != nil {
		log.Fatal(err)
	}
	// Half the frames receive; the other half wait for nothing here.
	s.Refill(s.UMEM().FrameAddrs(0, 2048))
	descs := make([]xsk.Desc, 64)
	addrs := make([]uint64, 64)
	for {
		if _, err := s.Poll(time.Second); err != nil {
			log.Fatal(err)
		}
		n := s.Receive(descs)
		sent := s.Transmit(descs[:n])
		for i := range descs[sent:n] {
			addrs[i] = descs[sent+i].Addr
		}
		s.Refill(addrs[:n-sent]) // frames TX had no room for
		c := s.Complete(addrs)
		s.Refill(addrs[:c])
	}
}

// ExampleNewMemQueue runs one frame through a memory-backed queue, playing the
// kernel with Deliver.
func ExampleNewMemQueue() {
	q, err := xsk.NewMemQueue(xsk.UMEMConfig{FrameSize: 2048, FrameCount: 64, FillSize: 64, CompletionSize: 64}, 64, 64)
	if err != nil {
		log.Fatal(err)
	}
	q.Refill(q.UMEM().FrameAddrs(0, 64))
	q.Deliver([]byte("hello, lana"), 1)

	descs := make([]xsk.Desc, 8)
	n := q.Receive(descs)
	d := descs[0]
	fmt.Printf("%d frame: %q at offset %d of frame %d\n", n, q.UMEM().Frame(d.Addr, d.Len),
		d.Addr-q.UMEM().FrameBase(d.Addr), q.UMEM().FrameIndex(d.Addr))
	q.Refill([]uint64{d.Addr})
	// Output: 1 frame: "hello, lana" at offset 256 of frame 0
}

// ExampleUMEMConfig_Validate shows a rule being stated.
func ExampleUMEMConfig_Validate() {
	fmt.Println(xsk.UMEMConfig{FrameSize: 3000}.Validate())
	fmt.Println(xsk.UMEMConfig{FillSize: 1000}.Validate())
	// Output:
	// frame size 3000: must be 2048 or 4096: invalid xsk configuration
	// fill ring size 1000: must be a power of two: invalid xsk configuration
}
