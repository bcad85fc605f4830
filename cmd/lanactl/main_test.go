package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lana-net/lana/client"
)

func TestConnectHint(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.sock")
	_, err := client.New(missing).Show(context.Background(), "x")
	if err == nil {
		t.Fatal("Show over a missing socket succeeded")
	}
	if hint := connectHint(err); !strings.Contains(hint, "is lanad running?") {
		t.Errorf("missing socket: hint %q for %v", hint, err)
	}

	// A plain file where the socket should be: connection refused.
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(plain).Show(context.Background(), "x"); connectHint(err) == "" {
		t.Errorf("plain file: no hint for %v", err)
	}

	// A missing input file is not about the socket.
	_, err = os.Open(filepath.Join(dir, "no-such-input"))
	if hint := connectHint(err); hint != "" {
		t.Errorf("missing input file: hint %q", hint)
	}
}
