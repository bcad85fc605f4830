package daemon_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lana-net/lana/api"
	"github.com/lana-net/lana/app"
	"github.com/lana-net/lana/appwire"
	"github.com/lana-net/lana/internal/testbed"
)

// appStack: eth demultiplexes vlink ports 5 and 6 to two vlinks; the
// applications' blocks are created above them through the data socket.
const appStack = `interfaces:
  - name: %s
    queues: all
    steering: lana
poll: wakeup
stack:
  blocks:
    - name: e0
      type: eth
      options:
        type.v5: "0xac05"
        type.v6: "0xac06"
    - name: v5
      type: vlink
      options:
        port: "5"
    - name: v6
      type: vlink
      options:
        port: "6"
  bindings:
    - {below: "e0:v5", above: v5}
    - {below: "e0:v6", above: v6}
  hook: e0
`

var buildEcho = sync.OnceValue(func() error {
	out, err := exec.Command("go", "build", "-o", filepath.Join(bins, "echo"), "github.com/lana-net/lana/examples/echo").CombinedOutput()
	if err != nil {
		return fmt.Errorf("build echo: %v\n%s", err, out)
	}
	return nil
})

// packetSocket opens an AF_PACKET socket in A for one ethertype.
func packetSocket(t *testing.T, p *testbed.Pair, et uint16) int {
	t.Helper()
	proto := int(et>>8 | et<<8) // network order
	var fd int
	err := p.Do(testbed.A, func() (err error) {
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto); err != nil {
			return err
		}
		tv := unix.NsecToTimeval(int64(2 * time.Second))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: p.IndexA})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// vlinkFrame is a frame from A to B on vlink port et&0x3ff carrying seq.
func vlinkFrame(p *testbed.Pair, et uint16, seq uint32, size int) []byte {
	f := make([]byte, size)
	copy(f[0:6], p.MACB)
	copy(f[6:12], p.MACA)
	binary.BigEndian.PutUint16(f[12:], et)
	binary.BigEndian.PutUint32(f[14:], seq)
	for i := 18; i < size; i++ {
		f[i] = byte(seq) + byte(i)
	}
	return f
}

// echoed is what the echo application answers to f.
func echoed(f []byte) []byte {
	a := append([]byte(nil), f...)
	copy(a[0:6], f[6:12])
	copy(a[6:12], f[0:6])
	return a
}

// roundTrip sends seq on port 5 from A and checks the answer byte for byte.
func roundTrip(t *testing.T, p *testbed.Pair, fd int, seq uint32) error {
	t.Helper()
	f := vlinkFrame(p, 0xac05, seq, 60+int(seq%400))
	_, err := unix.Write(fd, f)
	for errors.Is(err, unix.EINTR) {
		_, err = unix.Write(fd, f)
	}
	if err != nil {
		return fmt.Errorf("send %d: %w", seq, err)
	}
	buf := make([]byte, 2048)
	for {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("answer to %d: %w", seq, err)
		}
		if n >= 18 && binary.BigEndian.Uint32(buf[14:]) < seq {
			continue // a late answer to an earlier frame
		}
		if want := echoed(f); !bytes.Equal(buf[:n], want) {
			return fmt.Errorf("answer to %d:\n got %x\nwant %x", seq, buf[:n], want)
		}
		return nil
	}
}

// startEcho runs examples/echo above v5 and waits for its block.
func startEcho(t *testing.T, d *daemon, dsock string) *exec.Cmd {
	t.Helper()
	if err := buildEcho(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bins, "echo"), "--socket", dsock, "--block", "echo", "--below", "v5")
	log := &syncBuf{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	waitFor(t, func() bool { return hasBlock(d.list(), "echo") }, "echo's block: "+log.String())
	return cmd
}

func hasBlock(l api.List, name string) bool {
	for _, b := range l.Blocks {
		if b.Name == name {
			return true
		}
	}
	return false
}

// TestAppEcho: the peer namespace sends frames on vlink port 5; the echo
// example receives them through a socket-export block it created and
// answers; the peer gets every answer byte for byte while ping keeps
// working through the kernel. A capture of v5 is readable by tcpdump; a
// slow application's drops show in stats without touching the echo; a
// killed application's block disappears and the name can be used again.
func TestAppEcho(t *testing.T) {
	p := testbed.New(t, testbed.Options{})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "app.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(appStack, p.IfB)), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "lanad.sock")
	d := startLanad(t, p, cfg, sock)
	dsock := appwire.SocketNextTo(sock)
	if fi, err := os.Stat(dsock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("data socket %s: %v %v, want mode 0660", dsock, fi, err)
	}
	echo := startEcho(t, d, dsock)
	fd5 := packetSocket(t, p, 0xac05)

	// Ping through the kernel all along.
	ping := exec.Command("ip", "netns", "exec", p.NSA, "ping", "-n", "-c", "40", "-i", "0.05", "-W", "1", p.AddrB.Addr().String())
	pingOut := &syncBuf{}
	ping.Stdout, ping.Stderr = pingOut, pingOut
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}

	// A capture of v5 (a tap between e0 and v5) while frames flow.
	pcap := filepath.Join(dir, "v5.pcap")
	capt := exec.Command(filepath.Join(bins, "lanactl"), "--socket", sock, "capture", "v5", "-w", pcap, "-c", "10")
	captOut := &syncBuf{}
	capt.Stdout, capt.Stderr = captOut, captOut
	if err := capt.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return hasBlock(d.list(), "cap1") }, "the capture's tap")

	for seq := uint32(1); seq <= 200; seq++ {
		if err := roundTrip(t, p, fd5, seq); err != nil {
			t.Fatalf("%v\nlanad:\n%s", err, d.log)
		}
	}
	if err := capt.Wait(); err != nil {
		t.Fatalf("capture: %v\n%s", err, captOut)
	}
	out, err := exec.Command("tcpdump", "-r", pcap, "-n", "-e").CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump -r: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(strings.Join(filterLines(string(out), "ethertype"), "\n"))), "\n")
	req := fmt.Sprintf("%s > %s, ethertype Unknown (0xac05)", p.MACA, p.MACB)
	ans := fmt.Sprintf("%s > %s, ethertype Unknown (0xac05)", p.MACB, p.MACA)
	var nreq, nans int
	for _, l := range lines {
		nreq += strings.Count(l, req)
		nans += strings.Count(l, ans)
	}
	if len(lines) != 10 || nreq != 5 || nans != 5 {
		t.Fatalf("tcpdump read %d frames (%d requests, %d answers), want 10 (5+5):\n%s", len(lines), nreq, nans, out)
	}
	waitFor(t, func() bool { return !hasBlock(d.list(), "cap1") }, "the tap to go")
	if v5 := d.show("v5"); v5.Down != "e0" {
		t.Fatalf("after the capture v5 sits on %q, want e0", v5.Down)
	}

	// A slow application above v6: it never reads.
	slow, err := app.Dial(dsock, app.Options{Block: "slow", Below: "v6", BlockOptions: map[string]string{"queue": "16"}})
	if err != nil {
		t.Fatal(err)
	}
	if w := slow.Welcome(); !w.Created || w.Queue != 16 {
		t.Fatalf("welcome %+v", w)
	}
	fd6 := packetSocket(t, p, 0xac06)
	for seq := range uint32(3000) {
		if _, err := unix.Write(fd6, vlinkFrame(p, 0xac06, seq, 64)); err != nil && !errors.Is(err, unix.ENOBUFS) {
			t.Fatal(err)
		}
	}
	var st api.Stats
	waitFor(t, func() bool {
		if err := json.Unmarshal([]byte(d.mustCtl("stats", "--json")), &st); err != nil {
			t.Fatal(err)
		}
		return st.Blocks["slow"].Drops["queue-full"] > 0
	}, "queue-full drops of the slow application")
	t.Logf("slow application: %v", st.Blocks["slow"].Drops)
	for seq := uint32(1000); seq < 1050; seq++ { // the echo is unaffected
		if err := roundTrip(t, p, fd5, seq); err != nil {
			t.Fatalf("after the slow application: %v", err)
		}
	}
	slow.Close()
	waitFor(t, func() bool { return !hasBlock(d.list(), "slow") }, "the slow application's block to go")

	// Kill the echo mid-stream: its block goes, the name is free again.
	stop := make(chan struct{})
	sent := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				sent <- n
				return
			default:
			}
			unix.Write(fd5, vlinkFrame(p, 0xac05, 5000, 64))
			n++
			time.Sleep(100 * time.Microsecond)
		}
	}()
	time.Sleep(100 * time.Millisecond)
	echo.Process.Kill()
	echo.Wait()
	waitFor(t, func() bool { return !hasBlock(d.list(), "echo") }, "the killed echo's block to go")
	close(stop)
	t.Logf("frames sent while the echo died: %d", <-sent)
	startEcho(t, d, dsock)
	drain(fd5)
	for seq := uint32(6000); seq < 6020; seq++ {
		if err := roundTrip(t, p, fd5, seq); err != nil {
			t.Fatalf("after restarting the echo: %v", err)
		}
	}

	if err := ping.Wait(); err != nil || !strings.Contains(pingOut.String(), " 0% packet loss") {
		t.Fatalf("ping through the kernel: %v\n%s", err, pingOut)
	}
	if err := d.stop(); err != nil {
		t.Fatalf("lanad: %v\n%s", err, d.log)
	}
}

// drain empties a packet socket's receive queue.
func drain(fd int) {
	buf := make([]byte, 2048)
	for {
		if _, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT); err != nil {
			return
		}
	}
}

func filterLines(s, substr string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// TestDataSocketPermission: the data socket authorises like the control
// socket: a stranger is refused by the daemon, a group member may capture.
func TestDataSocketPermission(t *testing.T) {
	p := testbed.New(t, testbed.Options{})
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	cfg := config(t, p, "paper.yaml", "# group: lana", "group: nogroup")
	d := startLanad(t, p, cfg, filepath.Join(dir, "lanad.sock"))
	dsock := appwire.SocketNextTo(d.sock)
	os.Chmod(dsock, 0o666) // everybody reaches it: the daemon must refuse
	capture := func(uid, gid uint32) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bins, "lanactl"), "--socket", d.sock, "capture", "e0", "-w", "-", "-c", "1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
		return cmd
	}
	out, err := capture(65534, 65533).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "only root and group nogroup (gid 65534) may use lanad's data socket") {
		t.Fatalf("stranger: err %v, output %q: want refusal", err, out)
	}
	member := capture(65534, 65534)
	var pcap bytes.Buffer
	member.Stdout = &pcap
	if err := member.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return hasBlock(d.list(), "cap1") }, "the member's tap")
	sendAll(t, p, 1, 0, 0)
	if err := member.Wait(); err != nil {
		t.Fatalf("group member's capture: %v", err)
	}
	// pcap header (24 bytes) + record header (16) + the frame.
	if pcap.Len() <= 40 {
		t.Fatalf("capture wrote %d bytes", pcap.Len())
	}
}
