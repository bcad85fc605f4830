package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lana-net/lana/api"
	"github.com/lana-net/lana/client"
	"github.com/lana-net/lana/internal/testbed"
)

// swapPair are two transactions that replace fwd1 (paper.yaml's second
// dummy) with a fresh dummy, alternating the helper's name.
func swapPair() []api.Transaction {
	var txns []api.Transaction
	for _, nb := range []string{"fwd1-a", "fwd1-b"} {
		txns = append(txns, api.Transaction{Verbs: []api.Verb{
			{Op: "add", Args: []string{nb, "dummy"}},
			{Op: "replace", Args: []string{"fwd1", nb}},
		}})
	}
	return txns
}

// TestReplay has lanad replace a block of the running stack every 5 ms
// while frames flow: every frame is counted, the replay keeps its pace and
// stops at its time or count, and the result and the log say so. While the
// frames flow, the worker applies the transactions (chained); after, lanad
// applies them itself.
func TestReplay(t *testing.T) {
	p := testbed.New(t, testbed.Options{})
	d := startLanad(t, p, config(t, p, "paper.yaml"), filepath.Join(t.TempDir(), "lanad.sock"))
	ctx := context.Background()

	type outcome struct {
		res api.ReplayResult
		err error
	}
	done := make(chan outcome, 1)
	start := time.Now()
	go func() {
		res, err := d.client.Replay(ctx, api.Replay{Transactions: swapPair(), Every: "5ms", For: "600ms"})
		done <- outcome{res, err}
	}()
	m := d.mark("count")
	sendAll(t, p, 2000, 10000, -1) // 200 ms of frames while fwd1 is being replaced
	o := <-done
	took := time.Since(start)
	if o.err != nil {
		t.Fatalf("replay: %v\n%s", o.err, d.log)
	}
	// 600ms / 5ms: slots 0..119; a loaded machine may skip a few (late).
	// The worker published at least 10 chained transactions on time: a
	// chain is delayed only from where the frames paused, which on a
	// loaded machine (a CI running every package) may happen in more than
	// one chain, so the delayed are bounded by what was chained, not by
	// one chain's length.
	if o.res.Stopped != api.ReplayFor || o.res.Error != nil || o.res.Applied+o.res.Late != 120 ||
		o.res.Applied < 100 || o.res.Verbs != 2*o.res.Applied || o.res.Chained < 20 || o.res.Chained == o.res.Applied ||
		o.res.Chained-o.res.Delayed < 10 {
		t.Fatalf("replay result: %+v", o.res)
	}
	t.Logf("replay result: %+v", o.res)
	if el, err := time.ParseDuration(o.res.Elapsed); err != nil || el < 600*time.Millisecond || took < 600*time.Millisecond {
		t.Fatalf("replay of 600ms ended after %s (%v): %v", o.res.Elapsed, took, err)
	}
	d.waitDelivered("count", m, 2000) // no frame lost to the swaps
	if b := d.show("fwd1"); b.Type != "dummy" || b.Down != "fwd0" || b.Up != "count" {
		t.Fatalf("fwd1 after the replay: %+v", b)
	}
	waitLog(t, d, "replay ended")
	if !regexp.MustCompile(`replay started.*transactions=2 verbs=4 every=5ms count=0 for=600ms`).MatchString(d.log.String()) ||
		!regexp.MustCompile(fmt.Sprintf(`replay ended.*applied=%d late=%d delayed=%d chained=%d .*stopped=for`,
			o.res.Applied, o.res.Late, o.res.Delayed, o.res.Chained)).MatchString(d.log.String()) {
		t.Errorf("replay not logged with its plan and outcome:\n%s", d.log)
	}
	if strings.Contains(d.log.String(), `msg=applied verbs="add fwd1-a dummy`) {
		t.Errorf("a replay's transactions logged at info level:\n%s", d.log)
	}

	// A count stops it, whatever comes first.
	res, err := d.client.Replay(ctx, api.Replay{Transactions: swapPair(), Every: "1ms", Count: 7, For: "10s"})
	if err != nil || res.Stopped != api.ReplayCount || res.Applied != 7 || res.Verbs != 14 {
		t.Fatalf("replay of 7: %+v %v", res, err)
	}
}

// TestReplayRefusals sends bad replays: each is refused before anything is
// applied, with a message naming what was wrong; a transaction refused on
// the way ends the replay, keeping what was applied before it.
func TestReplayRefusals(t *testing.T) {
	p := testbed.New(t, testbed.Options{})
	d := startLanad(t, p, config(t, p, "paper.yaml"), filepath.Join(t.TempDir(), "lanad.sock"))
	ctx := context.Background()
	before := d.list()
	for _, c := range []struct {
		req  api.Replay
		want string
	}{
		{api.Replay{Every: "10ms", Count: 1}, "no transactions"},
		{api.Replay{Transactions: []api.Transaction{{}}, Every: "10ms", Count: 1}, "transaction 1: no verbs"},
		{api.Replay{Transactions: append(swapPair(), api.Transaction{Verbs: []api.Verb{{Op: "destroy"}}}), Every: "10ms", Count: 3},
			"transaction 3: verb 1"},
		{api.Replay{Transactions: swapPair(), Count: 1}, "every: missing"},
		{api.Replay{Transactions: swapPair(), Every: "fast", Count: 1}, `every "fast": not a duration`},
		{api.Replay{Transactions: swapPair(), Every: "100us", Count: 1}, "must be at least 1ms"},
		{api.Replay{Transactions: swapPair(), Every: "10ms"}, "say when to stop"},
		{api.Replay{Transactions: swapPair(), Every: "10ms", Count: -1}, "count -1"},
		{api.Replay{Transactions: swapPair(), Every: "10ms", For: "48h"}, "at most 24h"},
		{api.Replay{Transactions: swapPair(), Every: "1s", Count: 1000000}, "lasts over 24h"},
	} {
		_, err := d.client.Replay(ctx, c.req)
		var se *client.StatusError
		if !errors.As(err, &se) || se.Status != 400 || se.Err.Kind != "bad-request" || !strings.Contains(se.Err.Message, c.want) {
			t.Errorf("%+v: got %v, want a bad-request naming %q", c.req, err, c.want)
		}
	}
	if after := d.list(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a refused replay changed the stack:\n%+v\n%+v", before, after)
	}

	// The second transaction adds a block the first one added: refused at
	// its first turn, after one transaction was applied.
	res, err := d.client.Replay(ctx, api.Replay{Every: "1ms", Count: 10, Transactions: []api.Transaction{
		{Verbs: []api.Verb{{Op: "add", Args: []string{"x1", "dummy"}}}},
		{Verbs: []api.Verb{{Op: "add", Args: []string{"x1", "dummy"}}}},
	}})
	if err != nil || res.Stopped != api.ReplayRefused || res.Applied != 1 || res.Error == nil ||
		res.Error.Kind != "conflict" || !strings.Contains(res.Error.Message, "transaction 2") {
		t.Fatalf("replay refused on the way: %+v %v (error %+v)", res, err, res.Error)
	}
	if _, err := d.client.Show(ctx, "x1"); err != nil {
		t.Fatalf("the transaction applied before the refusal was undone: %v", err)
	}
}

// TestReplayEnds ends replays from outside: the client going away stops
// the replay (lanad logs it cancelled and stays usable), and lanad
// shutting down ends a running replay at once, answering "shutdown".
func TestReplayEnds(t *testing.T) {
	p := testbed.New(t, testbed.Options{})
	d := startLanad(t, p, config(t, p, "paper.yaml"), filepath.Join(t.TempDir(), "lanad.sock"))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := d.client.Replay(ctx, api.Replay{Transactions: swapPair(), Every: "10ms", For: "1h"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("replay with a 200ms context: %v", err)
	}
	waitLog(t, d, "stopped=cancelled")
	d.mustCtl("add", "after", "dummy") // lanad goes on

	type outcome struct {
		res api.ReplayResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := d.client.Replay(context.Background(), api.Replay{Transactions: swapPair(), Every: "10ms", For: "1h"})
		done <- outcome{res, err}
	}()
	for end := time.Now().Add(5 * time.Second); strings.Count(d.log.String(), "replay started") < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("second replay never started:\n%s", d.log)
		}
	}
	start := time.Now()
	if err := d.stop(); err != nil {
		t.Fatalf("lanad exit with a replay running: %v\n%s", err, d.log)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("lanad took %v to stop with a replay running", el)
	}
	o := <-done
	if o.err != nil || o.res.Stopped != api.ReplayShutdown || o.res.Applied == 0 {
		t.Fatalf("replay at shutdown: %+v %v", o.res, o.err)
	}
}

// TestLanactlReplay runs lanactl replay with transactions on stdin and in
// a file: the summary in text and JSON, and refusals from lanactl itself
// and from lanad.
func TestLanactlReplay(t *testing.T) {
	p := testbed.New(t, testbed.Options{})
	d := startLanad(t, p, config(t, p, "paper.yaml"), filepath.Join(t.TempDir(), "lanad.sock"))
	replay := func(in string, args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(bins, "lanactl"), append([]string{"--socket", d.sock, "replay"}, args...)...)
		cmd.Stdin = strings.NewReader(in)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	swaps := "# fwd1 swapped back and forth\nadd fwd1-a dummy; replace fwd1 fwd1-a\n\nadd fwd1-b dummy; replace fwd1 fwd1-b\n"
	out, err := replay(swaps, "--every", "2ms", "--count", "5") // from stdin
	if err != nil || !strings.Contains(out, "5 transactions (10 verbs) applied in ") || !strings.Contains(out, "stopped: count") {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	file := filepath.Join(t.TempDir(), "swaps.txt")
	if err := os.WriteFile(file, []byte(swaps), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = replay("", "--every", "5ms", "--for", "100ms", "--json", "-f", file)
	if err != nil || !strings.Contains(out, `"stopped": "for"`) || !strings.Contains(out, `"applied": `) {
		t.Fatalf("replay --json: %v\n%s", err, out)
	}
	for _, c := range []struct {
		in   string
		args []string
		want string
	}{
		{swaps, []string{"--count", "5"}, "--every: required"},
		{swaps, []string{"--every", "5ms"}, "say when to stop"},
		{"", []string{"--every", "5ms", "--count", "1"}, "no transactions"},
		{"add z1 dummy;\n", []string{"--every", "5ms", "--count", "1"}, "line 1: verb 2: empty"},
		{swaps, []string{"--every", "10us", "--count", "1"}, "must be at least 1ms"},
		{"", []string{"--every", "5ms", "--count", "1", "-f", "/nonexistent/swaps.txt"}, "no such file"},
		{"add z2 dummy\nadd z2 dummy\n", []string{"--every", "1ms", "--count", "4"}, "transaction 2"},
	} {
		if out, err := replay(c.in, c.args...); err == nil || !strings.Contains(out, c.want) {
			t.Errorf("replay %v with %q: %v, want an error naming %q:\n%s", c.args, c.in, err, c.want, out)
		}
	}
}
