package daemon

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/lana-net/lana/api"
)

// stream serves api.RouteStream: after the upgrade, one transaction per
// line in, one api.StreamReply per line out, until either side closes.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	if !httpguts.HeaderValuesContainsToken(r.Header["Connection"], "upgrade") ||
		!httpguts.HeaderValuesContainsToken(r.Header["Upgrade"], api.StreamProtocol) {
		w.Header().Set("Upgrade", api.StreamProtocol)
		fail(w, http.StatusUpgradeRequired, "bad-request",
			fmt.Sprintf("%s is a stream: send \"Connection: Upgrade\" and \"Upgrade: %s\" (or use %s for one transaction)",
				api.RouteStream, api.StreamProtocol, api.RouteTransaction))
		return
	}
	if r.ContentLength > 0 {
		fail(w, http.StatusBadRequest, "bad-request", "stream: the upgrade request takes no body; send transactions after the 101")
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		fail(w, http.StatusInternalServerError, "internal", "stream: cannot take over the connection: "+err.Error())
		return
	}
	defer conn.Close()
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.streams[conn] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.streams, conn)
		s.mu.Unlock()
	}()
	// The server's read and write timeouts were set on the connection for
	// the upgrade request; a stream may idle for as long as its client likes.
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return
	}
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", api.StreamProtocol)
	if rw.Flush() != nil {
		return
	}
	who := peerName(r)
	s.log.Info("stream opened", "peer", who)
	st := streamStats{}
	err = s.serveStream(rw, &st)
	args := []any{"peer", who, "applied", st.applied, "refused", st.refused}
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		args = append(args, "error", err)
	}
	s.log.Info("stream closed", args...)
}

type streamStats struct{ applied, refused int }

// peerName names the client of r for the log: its uid and pid.
func peerName(r *http.Request) string {
	if p, _ := r.Context().Value(peerKey{}).(*Peer); p != nil {
		return fmt.Sprintf("uid %d pid %d", p.UID, p.PID)
	}
	return "unknown peer"
}

// serveStream answers rw's lines until the client closes (io.EOF) or the
// connection fails.
func (s *Server) serveStream(rw *bufio.ReadWriter, st *streamStats) (err error) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("stream panic", "panic", v, "stack", string(debug.Stack()))
			writeReply(rw, api.StreamReply{Message: fmt.Sprintf("internal error: %v", v), Kind: "internal"})
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	var buf []byte
	for n := 1; ; n++ {
		line, err := readLine(rw.Reader, &buf, api.MaxBody)
		if errors.Is(err, errLineTooLong) {
			writeReply(rw, api.StreamReply{Kind: "too-large",
				Message: fmt.Sprintf("stream line %d: over %d bytes; the stream ends here", n, api.MaxBody)})
			return err
		}
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			n--
			continue
		}
		reply := s.applyLine(line, n)
		if reply.Err() != nil {
			st.refused++
		} else {
			st.applied++
		}
		if err := writeReply(rw, reply); err != nil {
			return err
		}
	}
}

// applyLine applies one stream line; the reply names the line when it is
// refused.
func (s *Server) applyLine(line []byte, n int) api.StreamReply {
	var t api.Transaction
	if err := decodeStrict(bytes.NewReader(line), &t); err != nil {
		return api.StreamReply{Kind: "bad-request", Message: fmt.Sprintf("stream line %d: malformed JSON: %v", n, err)}
	}
	if err := s.rt.apply(t.Verbs, slog.LevelDebug); err != nil {
		s.log.Warn("refused", "stream_line", n, "verbs", fmt.Sprint(t.Verbs), "err", err)
		_, kind := classify(err)
		return api.StreamReply{Kind: kind, Message: fmt.Sprintf("stream line %d: %v", n, err)}
	}
	return api.StreamReply{Applied: len(t.Verbs)}
}

func writeReply(rw *bufio.ReadWriter, reply api.StreamReply) error {
	data, err := json.Marshal(reply)
	if err != nil {
		return err
	}
	rw.Write(append(data, '\n'))
	return rw.Flush()
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line of r without its newline, reusing *buf for
// lines longer than r's buffer; a final line without a newline counts. It
// fails with errLineTooLong past max bytes.
func readLine(r *bufio.Reader, buf *[]byte, max int) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err == nil {
		return line[:len(line)-1], nil
	}
	*buf = append((*buf)[:0], line...)
	for errors.Is(err, bufio.ErrBufferFull) {
		if len(*buf) > max {
			return nil, errLineTooLong
		}
		line, err = r.ReadSlice('\n')
		*buf = append(*buf, line...)
	}
	if len(*buf) > max {
		return nil, errLineTooLong
	}
	if err == nil {
		return (*buf)[:len(*buf)-1], nil
	}
	if errors.Is(err, io.EOF) && len(*buf) > 0 {
		return *buf, nil
	}
	return nil, err
}
