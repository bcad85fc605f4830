package xsk

import (
	"errors"
	"testing"
	"time"

	"github.com/lana-net/lana/internal/testbed"
)

// TestSocketWake: Wake ends a Poll that sleeps (with a one-minute timeout)
// from another goroutine; a Wake before Poll ends the next Poll at once and
// only that one (Poll drains the eventfd); Woken counts both; after Close,
// Wake reports ErrSocketClosed and the eventfd is gone.
func TestSocketWake(t *testing.T) {
	tb := testbed.New(t, testbed.Options{})
	before := sockFDs(t)
	s := sockOpen(t, tb, 0, Config{})

	if err := s.Wake(); err != nil {
		t.Fatal(err)
	}
	if err := s.Wake(); err != nil { // a second pending Wake ends the same Poll
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := s.Poll(time.Minute); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a pending Wake did not end Poll")
	}
	if st, _ := s.Stats(); st.Woken != 1 {
		t.Fatalf("after a pending wake: Woken %d, want 1", st.Woken)
	}
	// Drained: a Poll without waiting finds nothing pending.
	if rx, err := s.Poll(0); rx || err != nil {
		t.Fatalf("Poll(0): %v %v", rx, err)
	}
	if st, _ := s.Stats(); st.Woken != 1 {
		t.Fatalf("Poll(0) after the wake was drained: Woken %d, want 1", st.Woken)
	}

	// A Wake while Poll sleeps.
	go func() { _, err := s.Poll(time.Minute); done <- err }()
	time.Sleep(20 * time.Millisecond) // most likely asleep by now; either way Wake ends it
	if err := s.Wake(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wake did not end a sleeping Poll")
	}
	if st, _ := s.Stats(); st.Woken != 2 || st.Polls != 3 {
		t.Fatalf("Woken %d, Polls %d: want 2 and 3", st.Woken, st.Polls)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Wake(); !errors.Is(err, ErrSocketClosed) {
		t.Fatalf("Wake after Close: %v, want ErrSocketClosed", err)
	}
	if after := sockFDs(t); after != before {
		t.Fatalf("%d fds open before Open, %d after Close: the eventfd leaked", before, after)
	}
}
