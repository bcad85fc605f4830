package daemon_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lana-net/lana/api"
	"github.com/lana-net/lana/internal/testbed"
)

// TestStream drives lanad's stream route with the Go client: applied and
// refused lines in one stream, the refused one changing nothing, and the
// stream going on after it; traffic keeps being counted across a replace
// made through the stream.
func TestStream(t *testing.T) {
	p := testbed.New(t, testbed.Options{})
	d := startLanad(t, p, config(t, p, "paper.yaml"), filepath.Join(t.TempDir(), "lanad.sock"))
	ctx := context.Background()
	s, err := d.client.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	add := func(name, typ string) api.Verb { return api.Verb{Op: "add", Args: []string{name, typ}} }
	if err := s.Apply(ctx, add("c1", "counter"), api.Verb{Op: "replace", Args: []string{"count", "c1"}}); err != nil {
		t.Fatalf("line 1: %v\n%s", err, d.log)
	}
	before := d.list()
	err = s.Apply(ctx, add("c2", "counter"), api.Verb{Op: "rm", Args: []string{"nope"}})
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Kind != "not-found" || !strings.Contains(ae.Message, "stream line 2") ||
		!strings.Contains(ae.Message, "nope") {
		t.Fatalf("refused line: %v (%#v)", err, ae)
	}
	if after := d.list(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a refused line changed the stack:\n%+v\n%+v", before, after)
	}
	// The stream goes on; frames reach the block put in place through it.
	sendAll(t, p, 50, 20000, -1)
	d.waitCounted("count", 50) // replace keeps the old name: c1 now runs as count
	if err := s.Apply(ctx, add("c3", "counter"), api.Verb{Op: "replace", Args: []string{"count", "c3"}}); err != nil {
		t.Fatalf("line 3: %v", err)
	}
	if c := d.counted("count"); c != 50 {
		t.Fatalf("replace through the stream lost the count: %d", c)
	}
	// A context that has ended sends nothing, and the stream stays usable.
	dead, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Apply(dead, add("c4", "counter")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply with a cancelled context: %v", err)
	}
	if err := s.Apply(ctx, add("c5", "counter")); err != nil {
		t.Fatalf("Apply after a cancelled one: %v", err)
	}
	if _, err := d.client.Show(ctx, "c4"); err == nil {
		t.Fatal("c4 was added by an Apply whose context had ended")
	}
	s.Close()

	waitLog(t, d, "stream closed")
	log := d.log.String()
	if !strings.Contains(log, "stream opened") || !regexp.MustCompile(`stream closed.*applied=3 refused=1`).MatchString(log) {
		t.Errorf("stream open/close not logged with its counts:\n%s", log)
	}
	if strings.Contains(log, `msg=applied verbs="add c1 counter`) {
		t.Errorf("a stream's applied lines logged at info level:\n%s", log)
	}
}

// TestStreamProtocol speaks the stream protocol by hand: the upgrade is
// required, malformed and unknown-field lines get bad-request replies and
// the stream goes on, pipelined lines are answered in order, blank lines are
// skipped, and an oversized line ends the stream.
func TestStreamProtocol(t *testing.T) {
	p := testbed.New(t, testbed.Options{})
	d := startLanad(t, p, config(t, p, "paper.yaml"), filepath.Join(t.TempDir(), "lanad.sock"))

	// Without the upgrade headers: 426 and a message saying what to send.
	st, body, err := d.client.Raw(context.Background(), "POST", api.RouteStream, nil)
	if err != nil || st != http.StatusUpgradeRequired || !strings.Contains(string(body), "Upgrade: lana-stream/1") {
		t.Fatalf("plain POST %s: %d %s %v", api.RouteStream, st, body, err)
	}

	conn, r := rawStream(t, d.sock)
	defer conn.Close()
	send := func(s string) {
		t.Helper()
		if _, err := io.WriteString(conn, s); err != nil {
			t.Fatal(err)
		}
	}
	recv := func() api.StreamReply {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read reply: %v (got %q)", err, line)
		}
		var rep api.StreamReply
		if err := json.Unmarshal([]byte(line), &rep); err != nil {
			t.Fatalf("reply %q: %v", line, err)
		}
		return rep
	}
	send(`{"verbs":[{"op":"add","args":["x1","dummy"]}]` + "\n")
	if rep := recv(); rep.Kind != "bad-request" || !strings.Contains(rep.Message, "stream line 1: malformed JSON") {
		t.Fatalf("malformed line: %+v", rep)
	}
	send(`{"verbs":[{"op":"add","args":["x1","dummy"]}],"colour":"red"}` + "\n")
	if rep := recv(); rep.Kind != "bad-request" || !strings.Contains(rep.Message, `unknown field "colour"`) {
		t.Fatalf("unknown field: %+v", rep)
	}
	// Two lines in one write, a blank line between them.
	send(`{"verbs":[{"op":"add","args":["x1","dummy"]}]}` + "\n\n" + `{"verbs":[{"op":"add","args":["x1","dummy"]}]}` + "\n")
	if rep := recv(); rep.Err() != nil || rep.Applied != 1 {
		t.Fatalf("pipelined line 3: %+v", rep)
	}
	if rep := recv(); rep.Kind != "conflict" || !strings.Contains(rep.Message, "stream line 4") {
		t.Fatalf("pipelined line 4 (x1 exists): %+v", rep)
	}
	if _, err := d.client.Show(context.Background(), "x1"); err != nil {
		t.Fatalf("x1 not added: %v", err)
	}
	// Over api.MaxBody: one too-large reply, then lanad closes the stream.
	send(`{"verbs":[{"op":"add","args":["` + strings.Repeat("a", api.MaxBody) + `","dummy"]}]}` + "\n")
	if rep := recv(); rep.Kind != "too-large" {
		t.Fatalf("oversized line: %+v", rep)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadString('\n'); err != io.EOF {
		t.Fatalf("after an oversized line the stream stays open: %v", err)
	}
	if l := d.list(); len(l.Blocks) != 5 {
		t.Fatalf("stack after the protocol test: %+v", l.Blocks)
	}
}

// TestStreamShutdown stops lanad while a stream is open: lanad exits
// promptly and cleanly, and the client sees the stream end.
func TestStreamShutdown(t *testing.T) {
	p := testbed.New(t, testbed.Options{})
	d := startLanad(t, p, config(t, p, "paper.yaml"), filepath.Join(t.TempDir(), "lanad.sock"))
	s, err := d.client.OpenStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitLog(t, d, "stream opened")
	start := time.Now()
	if err := d.stop(); err != nil {
		t.Fatalf("lanad exit with a stream open: %v\n%s", err, d.log)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("lanad took %v to stop with a stream open", el)
	}
	if err := s.Apply(context.Background(), api.Verb{Op: "add", Args: []string{"late", "dummy"}}); err == nil {
		t.Fatal("Apply after lanad stopped succeeded")
	}
}

// TestLanactlBatch feeds lanactl batch transactions on stdin: all applied,
// a refused line stops the batch (earlier lines stay), and --keep-going
// goes on and reports the refusals.
func TestLanactlBatch(t *testing.T) {
	p := testbed.New(t, testbed.Options{})
	d := startLanad(t, p, config(t, p, "paper.yaml"), filepath.Join(t.TempDir(), "lanad.sock"))
	batch := func(in string, args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(bins, "lanactl"), append([]string{"--socket", d.sock, "batch"}, args...)...)
		cmd.Stdin = strings.NewReader(in)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := batch("# two changes\nadd b1 counter\n\nadd b2 counter; rm b1\n")
	if err != nil || !strings.Contains(out, "ok: 2 transactions (3 verbs) applied") {
		t.Fatalf("batch: %v\n%s", err, out)
	}
	has := func(name string) bool {
		_, err := d.client.Show(context.Background(), name)
		return err == nil
	}
	if !has("b2") || has("b1") {
		t.Fatalf("after batch: b1 %v b2 %v", has("b1"), has("b2"))
	}
	out, err = batch("add b3 counter\nrm nope\nadd b4 counter\n", "--quiet")
	if err == nil || !strings.Contains(out, "line 2:") || !strings.Contains(out, "nope") {
		t.Fatalf("batch with a refused line: %v\n%s", err, out)
	}
	if !has("b3") || has("b4") {
		t.Fatalf("after a refused line: b3 %v (want true) b4 %v (want false)", has("b3"), has("b4"))
	}
	out, err = batch("rm nope\nadd b4 counter\n", "--keep-going", "--json")
	if err == nil || !has("b4") || !strings.Contains(out, `"transactions": 1`) || !strings.Contains(out, `"failed": 1`) ||
		!strings.Contains(out, "1 of 2 transactions refused") {
		t.Fatalf("batch --keep-going: %v\n%s", err, out)
	}
	out, err = batch("add b5 counter;\n")
	if err == nil || !strings.Contains(out, "line 1: verb 2: empty") || has("b5") {
		t.Fatalf("batch with a trailing ';': %v\n%s", err, out)
	}
}

// rawStream opens a stream by hand and returns the connection and a reader
// positioned after the 101.
func rawStream(t *testing.T, sock string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: lanad\r\nConnection: Upgrade\r\nUpgrade: %s\r\nContent-Length: 0\r\n\r\n", api.RouteStream, api.StreamProtocol)
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	return conn, r
}

// waitLog waits until lanad's log contains s.
func waitLog(t *testing.T, d *daemon, s string) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if strings.Contains(d.log.String(), s) {
			return
		}
	}
	t.Fatalf("lanad never logged %q:\n%s", s, d.log)
}
