package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/lana-net/lana/appwire"
)

// Errors of a Conn.
var (
	// ErrClosed: the connection was closed (by Close or by lanad).
	ErrClosed = errors.New("connection closed")
	// ErrProtocol: lanad sent something this client does not understand.
	ErrProtocol = errors.New("protocol error")
)

// Options say which block the connection attaches to.
type Options struct {
	// Block is the block's name (required).
	Block string
	// Below, when set, makes lanad create Block (type socket-export) bound
	// above Below ("eth0" or "eth0:port5") and remove it at the end.
	// Empty: Block must exist.
	Below string
	// BlockOptions are the created block's options (queue, snap, pool).
	BlockOptions map[string]string
	// Capture taps Block instead of attaching to it: Recv then returns
	// every frame entering Block from below and leaving it downward
	// (RecvMeta tells which); Send is refused.
	Capture bool
	// Timeout bounds Dial's handshake (default 5s).
	Timeout time.Duration
}

// RemoteError is an error message from lanad.
type RemoteError struct {
	// Text is lanad's message.
	Text string
	// Fatal: lanad closed the connection after it.
	Fatal bool
}

// Error returns the message.
func (e *RemoteError) Error() string { return "lanad: " + e.Text }

// Conn is one attachment to a block.
type Conn struct {
	c       *net.UnixConn
	welcome appwire.Welcome

	rmu  sync.Mutex
	rbuf []byte // Recv's datagram buffer; rmu

	wmu  sync.Mutex
	wbuf []byte // Send's datagram buffer; wmu
}

// Dial connects to lanad's data socket (appwire.DefaultSocket when socket
// is empty) and attaches per o.
func Dial(socket string, o Options) (*Conn, error) {
	if socket == "" {
		socket = appwire.DefaultSocket
	}
	if o.Block == "" {
		return nil, errors.New("dial: Options.Block is required")
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	uc, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: socket, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", socket, err)
	}
	c := &Conn{c: uc, rbuf: make([]byte, appwire.MaxMessage), wbuf: make([]byte, appwire.MaxMessage)}
	if err := c.hello(o); err != nil {
		uc.Close()
		return nil, fmt.Errorf("dial %s: %w", socket, err)
	}
	return c, nil
}

func (c *Conn) hello(o Options) error {
	body, err := json.Marshal(appwire.Hello{Block: o.Block, Below: o.Below, Options: o.BlockOptions, Capture: o.Capture})
	if err != nil {
		return err
	}
	c.c.SetDeadline(time.Now().Add(o.Timeout))
	defer c.c.SetDeadline(time.Time{})
	_, werr := c.c.Write(append(appwire.AppendHeader(nil, appwire.TypeHello, 0, len(body)), body...))
	// Even when the write failed, lanad may have said why before closing.
	n, err := c.c.Read(c.rbuf)
	if err != nil || n == 0 {
		if werr != nil {
			return fmt.Errorf("hello: %w", werr)
		}
		return fmt.Errorf("welcome: %w", errors.Join(err, ErrClosed))
	}
	h, b, err := appwire.Parse(c.rbuf[:n])
	if err != nil {
		return fmt.Errorf("welcome: %w: %w", err, ErrProtocol)
	}
	switch h.Type {
	case appwire.TypeWelcome:
		if err := json.Unmarshal(b, &c.welcome); err != nil {
			return fmt.Errorf("welcome: %w: %w", err, ErrProtocol)
		}
		return nil
	case appwire.TypeError:
		return &RemoteError{Text: string(b), Fatal: true}
	}
	return fmt.Errorf("answer to hello: type %d: %w", h.Type, ErrProtocol)
}

// Welcome returns lanad's answer to the handshake (block, sizes).
func (c *Conn) Welcome() appwire.Welcome { return c.welcome }

// Recv reads the next frame into buf and returns its length (cut to
// len(buf)). It blocks until a frame or an error message arrives; a
// non-fatal *RemoteError leaves the connection usable.
func (c *Conn) Recv(buf []byte) (int, error) {
	_, n, err := c.RecvMeta(buf)
	return n, err
}

// RecvMeta is Recv that also returns the frame's metadata (time, original
// length, queue, direction).
func (c *Conn) RecvMeta(buf []byte) (appwire.Meta, int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	n, err := c.c.Read(c.rbuf)
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return appwire.Meta{}, 0, ErrClosed
		}
		return appwire.Meta{}, 0, fmt.Errorf("recv: %w", err)
	}
	if n == 0 {
		return appwire.Meta{}, 0, ErrClosed // lanad closed the connection
	}
	h, body, err := appwire.Parse(c.rbuf[:n])
	if err != nil {
		return appwire.Meta{}, 0, fmt.Errorf("recv: %w: %w", err, ErrProtocol)
	}
	switch h.Type {
	case appwire.TypeFrame:
		m, f, err := appwire.ParseMeta(body)
		if err != nil {
			return appwire.Meta{}, 0, fmt.Errorf("recv: %w: %w", err, ErrProtocol)
		}
		return m, copy(buf, f), nil
	case appwire.TypeError:
		return appwire.Meta{}, 0, &RemoteError{Text: string(body), Fatal: h.Flags&appwire.FlagFatal != 0}
	}
	return appwire.Meta{}, 0, fmt.Errorf("recv: message type %d: %w", h.Type, ErrProtocol)
}

// Send hands one frame (a whole Ethernet frame) to the block's egress
// path. It returns once lanad has the message, not once the frame left.
func (c *Conn) Send(frame []byte) error {
	if len(frame) > appwire.MaxMessage-appwire.HeaderLen {
		return fmt.Errorf("send: %d bytes: at most %d per frame", len(frame), appwire.MaxMessage-appwire.HeaderLen)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	appwire.PutHeader(c.wbuf, appwire.TypeSend, 0, len(frame))
	n := copy(c.wbuf[appwire.HeaderLen:], frame)
	if _, err := c.c.Write(c.wbuf[:appwire.HeaderLen+n]); err != nil {
		if errors.Is(err, net.ErrClosed) {
			return ErrClosed
		}
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// SetReadDeadline bounds the next Recv calls (zero: no bound).
func (c *Conn) SetReadDeadline(t time.Time) error { return c.c.SetReadDeadline(t) }

// Close ends the attachment; lanad removes a block it created for it.
func (c *Conn) Close() error { return c.c.Close() }
