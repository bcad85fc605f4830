package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/lana-net/lana/api"
)

// Stream is one connection to lanad that carries transactions in order
// (api.RouteStream): for a caller that reconfigures often it costs far less
// per transaction than a request each. A Stream is not safe for concurrent
// use; open one per goroutine.
type Stream struct {
	conn   net.Conn
	r      *bufio.Reader
	out    []byte
	broken error // set when a reply was lost (timeout, I/O error)
}

// OpenStream connects to lanad and upgrades the connection to a stream.
// ctx bounds the connection and the upgrade only.
func (c *Client) OpenStream(ctx context.Context) (*Stream, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		return nil, fmt.Errorf("connect to lanad at %s: %w", c.socket, err)
	}
	s, err := upgrade(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

func upgrade(ctx context.Context, conn net.Conn) (*Stream, error) {
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	req, err := http.NewRequest(http.MethodPost, "http://lanad"+api.RouteStream, nil)
	if err != nil {
		return nil, fmt.Errorf("build stream request: %w", err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", api.StreamProtocol)
	if err := req.Write(conn); err != nil {
		return nil, fmt.Errorf("open stream: %w", ctxErr(ctx, err))
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, fmt.Errorf("open stream: %w", ctxErr(ctx, err))
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var ae api.Error
		if json.Unmarshal(data, &ae) != nil || ae.Message == "" {
			ae = api.Error{Message: fmt.Sprintf("open stream: %s: %s", resp.Status, strings.TrimSpace(string(data))), Kind: "internal"}
		}
		return nil, &StatusError{Status: resp.StatusCode, Err: &ae}
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), api.StreamProtocol) {
		return nil, fmt.Errorf("open stream: lanad switched to %q, want %q", resp.Header.Get("Upgrade"), api.StreamProtocol)
	}
	if !stop() {
		return nil, fmt.Errorf("open stream: %w", ctx.Err())
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("open stream: %w", err)
	}
	return &Stream{conn: conn, r: br}, nil
}

// Apply sends verbs as one transaction and waits for lanad's answer: nil
// when applied, an *api.Error when refused (nothing changed; the stream
// goes on). A ctx that has already ended sends nothing. When ctx ends
// while Apply waits for the answer, or the connection fails, the
// transaction's fate is unknown and the stream is broken: every later call
// fails, and the caller should check the stack (List) and open a new one.
func (s *Stream) Apply(ctx context.Context, verbs ...api.Verb) error {
	if s.broken != nil {
		return fmt.Errorf("stream unusable after an earlier failure: %w", s.broken)
	}
	if err := ctx.Err(); err != nil {
		return err // nothing sent: the stream stays usable
	}
	b, err := json.Marshal(api.Transaction{Verbs: verbs})
	if err != nil {
		return fmt.Errorf("encode transaction: %w", err)
	}
	s.out = append(append(s.out[:0], b...), '\n')
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { s.conn.SetDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	reply, err := s.roundTrip()
	if err != nil {
		s.broken = ctxErr(ctx, err)
		return fmt.Errorf("stream: %w", s.broken)
	}
	return reply.Err()
}

func (s *Stream) roundTrip() (api.StreamReply, error) {
	var reply api.StreamReply
	if _, err := s.conn.Write(s.out); err != nil {
		return reply, err
	}
	line, err := s.r.ReadSlice('\n')
	if err != nil {
		return reply, err
	}
	if err := json.Unmarshal(line, &reply); err != nil {
		return reply, fmt.Errorf("decode reply %q: %w", strings.TrimSpace(string(line)), err)
	}
	return reply, nil
}

// Close ends the stream.
func (s *Stream) Close() error { return s.conn.Close() }

// ctxErr prefers ctx's error to the I/O error its deadline caused.
func ctxErr(ctx context.Context, err error) error {
	var ne net.Error
	if cerr := ctx.Err(); cerr != nil && errors.As(err, &ne) && ne.Timeout() {
		return cerr
	}
	return err
}
