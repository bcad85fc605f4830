package daemon_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lana-net/lana/api"
	"github.com/lana-net/lana/app"
	"github.com/lana-net/lana/appwire"
	"github.com/lana-net/lana/internal/testbed"
)

// TestAppSendOnly: an application that never receives a frame sends
// 10,000 frames on vlink port 5 through its socket-export block; every one
// reaches the peer namespace. Its UMEM frames come from the workers' spare
// rings (engine Port.Alloc), not from received traffic, and when the rings
// run dry lanad slows the client down instead of dropping its frames.
//
// The worker (poll: wakeup) has no traffic to wake it: the client's sends
// wake it (engine Wakeable, the socket's eventfd). Without that wakeup it
// would refill its 64-frame spare ring once per 10 ms poll timeout, and the
// 10,000 frames could not take less than about 1.5 s (157 vectors of 64);
// with it they take 0.1-0.3 s here, so the bound is 1 s.
func TestAppSendOnly(t *testing.T) {
	const total = 10_000
	p := testbed.New(t, testbed.Options{})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "app.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(appStack, p.IfB)), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "lanad.sock")
	d := startLanad(t, p, cfg, sock)
	fd := packetSocket(t, p, 0xac05)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20); err != nil {
		t.Fatal(err)
	}
	c, err := app.Dial(appwire.SocketNextTo(sock), app.Options{Block: "tx", Below: "v5"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	seen := make([]bool, total)
	got := make(chan int)
	go func() {
		buf := make([]byte, 2048)
		n := 0
		for end := time.Now().Add(30 * time.Second); n < total && time.Now().Before(end); {
			m, err := unix.Read(fd, buf)
			if err != nil || m < 18 || binary.BigEndian.Uint16(buf[12:]) != 0xac05 {
				continue
			}
			if seq := binary.BigEndian.Uint32(buf[14:]); seq < total && !seen[seq] {
				seen[seq] = true
				n++
			}
		}
		got <- n
	}()
	start := time.Now()
	for seq := range uint32(total) {
		f := vlinkFrame(p, 0xac05, seq, 64)
		copy(f[0:6], p.MACA) // from B to A
		copy(f[6:12], p.MACB)
		if err := c.Send(f); err != nil {
			t.Fatalf("send %d: %v", seq, err)
		}
	}
	n := <-got
	elapsed := time.Since(start)
	var st api.Stats
	if err := json.Unmarshal([]byte(d.mustCtl("stats", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	var rx uint64
	for _, q := range st.Queues {
		rx += q.RxPackets
		t.Logf("queue %d: rx %d tx %d frames %+v", q.Queue.Queue, q.RxPackets, q.TxPackets, q.Frames)
	}
	t.Logf("A received %d of %d frames in %v (%.0f frames/s); tx block %+v", n, total, elapsed,
		float64(n)/elapsed.Seconds(), st.Blocks["tx"])
	if n != total {
		t.Fatalf("A received %d of %d frames the application sent\n%s", n, total, d.mustCtl("stats"))
	}
	if elapsed > time.Second {
		t.Fatalf("%d frames took %v, at least 1 s: the sends did not wake the sleeping worker\n%s",
			total, elapsed, d.mustCtl("stats"))
	}
	if rx != 0 {
		t.Fatalf("lanad received %d frames: the application was not send-only", rx)
	}
}
