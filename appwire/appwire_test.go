package appwire_test

import (
	"errors"
	"testing"

	"github.com/lana-net/lana/appwire"
)

func TestHeaderRoundTrip(t *testing.T) {
	body := []byte("hello")
	msg := append(appwire.AppendHeader(nil, appwire.TypeError, appwire.FlagFatal, len(body)), body...)
	if want := []byte{1, 5, 0, 1, 0, 0, 0, 5}; string(msg[:8]) != string(want) {
		t.Fatalf("header % x, want % x", msg[:8], want)
	}
	h, b, err := appwire.Parse(msg)
	if err != nil || h.Type != appwire.TypeError || h.Flags != appwire.FlagFatal || string(b) != "hello" {
		t.Fatalf("parse: %+v %q %v", h, b, err)
	}
	if _, _, err := appwire.Parse(msg[:7]); !errors.Is(err, appwire.ErrShort) {
		t.Fatalf("short: %v", err)
	}
	if _, _, err := appwire.Parse(msg[:10]); !errors.Is(err, appwire.ErrShort) {
		t.Fatalf("length mismatch: %v", err)
	}
	msg[0] = 2
	if _, _, err := appwire.Parse(msg); !errors.Is(err, appwire.ErrVersion) {
		t.Fatalf("version: %v", err)
	}
}

func TestMetaRoundTrip(t *testing.T) {
	m := appwire.Meta{Time: 1_700_000_000_123_456_789, Orig: 1514, Queue: 3, Dir: appwire.DirEgress}
	b := make([]byte, appwire.MetaLen+4)
	appwire.PutMeta(b, m)
	copy(b[appwire.MetaLen:], "abcd")
	got, f, err := appwire.ParseMeta(b)
	if err != nil || got != m || string(f) != "abcd" {
		t.Fatalf("got %+v %q %v, want %+v", got, f, err, m)
	}
	if _, _, err := appwire.ParseMeta(b[:15]); !errors.Is(err, appwire.ErrShort) {
		t.Fatalf("short meta: %v", err)
	}
}

func TestSocketNextTo(t *testing.T) {
	if got := appwire.SocketNextTo("/run/lana/lanad.sock"); got != appwire.DefaultSocket {
		t.Fatalf("%s, want %s", got, appwire.DefaultSocket)
	}
}
