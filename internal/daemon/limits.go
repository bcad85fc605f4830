package daemon

import (
	"net"
	"sync"
	"time"
)

// Control API limits and their defaults (SECURITY.md lists them all).
const (
	// DefaultMaxConns bounds the control connections served at once;
	// more wait in the socket's accept backlog until one closes.
	DefaultMaxConns = 64
	// controlReadTimeout bounds reading one request (headers and body);
	// controlIdleTimeout closes an idle keep-alive connection, so that
	// idle clients do not hold connection slots for long.
	controlReadTimeout = 30 * time.Second
	controlIdleTimeout = 5 * time.Second
)

// limitListener serves at most n connections at once: Accept waits for a
// slot before accepting, so excess clients queue in the kernel's backlog
// (they are not refused) and a flood costs the daemon no goroutines.
type limitListener struct {
	net.Listener
	slots chan struct{}
}

func newLimitListener(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n)}
}

// Accept takes a slot, then a connection; the slot is freed when the
// connection closes.
func (l *limitListener) Accept() (net.Conn, error) {
	l.slots <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
