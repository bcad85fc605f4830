package daemon

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lana-net/lana/client"
)

// TestMaxConns: with MaxConns connections open (idle), the next client
// waits in the backlog instead of being served, and is served as soon as
// one closes; callers are still authorised from their peer credentials
// through the limiting listener.
func TestMaxConns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the caller must pass the root-only check")
	}
	sock := filepath.Join(t.TempDir(), "lanad.sock")
	s, err := NewServer(memRuntime(t), ServerConfig{Socket: sock, MaxConns: 2}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	c := client.New(sock)
	if _, err := c.List(context.Background()); err != nil {
		t.Fatalf("list: %v", err)
	}
	c.CloseIdle()
	var held []net.Conn
	for range 2 {
		h, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, h)
	}
	time.Sleep(100 * time.Millisecond) // let the server accept both
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err = client.New(sock).List(ctx)
	cancel()
	if err == nil {
		t.Fatal("a third connection was served while two were open (limit 2)")
	}
	held[0].Close()
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := client.New(sock).List(ctx); err != nil {
		t.Fatalf("after a slot freed: %v", err)
	}
	held[1].Close()
}
