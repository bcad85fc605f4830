package appwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
)

// Protocol constants.
const (
	// Version is the protocol version this package speaks.
	Version = 1
	// HeaderLen is the size of Header on the wire.
	HeaderLen = 8
	// MetaLen is the size of Meta on the wire (the start of a Frame body).
	MetaLen = 16
	// MaxMessage is the largest datagram either side sends or accepts
	// (header included); a longer one is refused with an error message.
	MaxMessage = 65536
	// MaxFrame is the largest frame a message can carry.
	MaxFrame = MaxMessage - HeaderLen - MetaLen
	// DefaultSocket is where lanad listens for applications unless told
	// otherwise (next to the control socket).
	DefaultSocket = "/run/lana/data.sock"
	// DefaultMaxClients bounds simultaneous data connections.
	DefaultMaxClients = 64
)

// Type is a message type.
type Type uint8

// Message types. Hello must be the client's first message; Welcome or
// Error answers it.
const (
	// TypeHello (client -> lanad): JSON Hello naming or creating the block.
	TypeHello Type = 1
	// TypeWelcome (lanad -> client): JSON Welcome, the block is attached.
	TypeWelcome Type = 2
	// TypeFrame (lanad -> client): Meta, then the frame's bytes.
	TypeFrame Type = 3
	// TypeSend (client -> lanad): the frame's bytes, to the egress path.
	TypeSend Type = 4
	// TypeError (lanad -> client): UTF-8 text. After an error answering
	// Hello, or with flag FlagFatal, lanad closes the connection.
	TypeError Type = 5
)

// Flags of an Error message.
const (
	// FlagFatal: lanad closes the connection after this error.
	FlagFatal uint16 = 1
)

// Errors of parsing.
var (
	// ErrShort: a message shorter than its header or its length field.
	ErrShort = errors.New("short message")
	// ErrVersion: a header of another protocol version.
	ErrVersion = errors.New("unsupported protocol version")
)

// Header starts every message.
type Header struct {
	Version uint8
	Type    Type
	Flags   uint16
	// Length is the body's length in bytes; the datagram is HeaderLen +
	// Length bytes.
	Length uint32
}

// AppendHeader appends a header for a body of n bytes to b.
func AppendHeader(b []byte, t Type, flags uint16, n int) []byte {
	b = append(b, Version, byte(t))
	b = binary.BigEndian.AppendUint16(b, flags)
	return binary.BigEndian.AppendUint32(b, uint32(n))
}

// PutHeader writes a header for a body of n bytes into b[:HeaderLen].
func PutHeader(b []byte, t Type, flags uint16, n int) {
	b[0], b[1] = Version, byte(t)
	binary.BigEndian.PutUint16(b[2:], flags)
	binary.BigEndian.PutUint32(b[4:], uint32(n))
}

// Parse splits one datagram into its header and body (aliasing msg).
func Parse(msg []byte) (Header, []byte, error) {
	if len(msg) < HeaderLen {
		return Header{}, nil, fmt.Errorf("message of %d bytes: at least the %d-byte header: %w", len(msg), HeaderLen, ErrShort)
	}
	h := Header{Version: msg[0], Type: Type(msg[1]), Flags: binary.BigEndian.Uint16(msg[2:]), Length: binary.BigEndian.Uint32(msg[4:])}
	if h.Version != Version {
		return h, nil, fmt.Errorf("version %d: this side speaks %d: %w", h.Version, Version, ErrVersion)
	}
	if int64(h.Length) != int64(len(msg)-HeaderLen) {
		return h, nil, fmt.Errorf("length field %d: the datagram carries %d body bytes: %w", h.Length, len(msg)-HeaderLen, ErrShort)
	}
	return h, msg[HeaderLen:], nil
}

// Direction values of Meta.
const (
	// DirIngress: the frame was travelling up from the wire.
	DirIngress uint8 = 0
	// DirEgress: the frame was travelling down to the wire.
	DirEgress uint8 = 1
)

// Meta precedes the frame in a Frame body.
type Meta struct {
	// Time is when the engine copied the frame, in Unix nanoseconds.
	Time int64
	// Orig is the frame's length; the body carries fewer bytes when the
	// block's snap length cut it.
	Orig uint32
	// Queue is the NIC queue the frame arrived on or leaves by.
	Queue uint16
	// Dir is DirIngress or DirEgress.
	Dir uint8
}

// PutMeta writes m into b[:MetaLen] (the last byte is reserved, zero).
func PutMeta(b []byte, m Meta) {
	binary.BigEndian.PutUint64(b[0:], uint64(m.Time))
	binary.BigEndian.PutUint32(b[8:], m.Orig)
	binary.BigEndian.PutUint16(b[12:], m.Queue)
	b[14], b[15] = m.Dir, 0
}

// ParseMeta reads a Frame body's Meta and returns the frame bytes after it.
func ParseMeta(body []byte) (Meta, []byte, error) {
	if len(body) < MetaLen {
		return Meta{}, nil, fmt.Errorf("frame body of %d bytes: at least the %d-byte meta: %w", len(body), MetaLen, ErrShort)
	}
	m := Meta{Time: int64(binary.BigEndian.Uint64(body)), Orig: binary.BigEndian.Uint32(body[8:]),
		Queue: binary.BigEndian.Uint16(body[12:]), Dir: body[14]}
	return m, body[MetaLen:], nil
}

// Hello is the client's first message (JSON). Exactly one of three forms:
//
//   - create: Block and Below: lanad adds Block (type socket-export, with
//     Options) and binds it above Below ("eth0", or "eth0:vlink5" for a
//     named output) in one transaction; the block is removed when the
//     client disconnects.
//   - attach: Block only: Block must exist and be of type socket-export; it
//     stays when the client disconnects.
//   - capture: Block and Capture: lanad inserts a tap below Block (between
//     Block and what feeds it) and streams what enters Block from below and
//     leaves it downward; the tap goes when the client disconnects.
type Hello struct {
	Block   string            `json:"block"`
	Below   string            `json:"below,omitempty"`
	Options map[string]string `json:"options,omitempty"`
	Capture bool              `json:"capture,omitempty"`
}

// Welcome answers a Hello (JSON).
type Welcome struct {
	// Version is the daemon's protocol version.
	Version int `json:"version"`
	// Block is the block the client is attached to; for a capture, the
	// captured block; Tap names the inserted tap.
	Block string `json:"block"`
	Tap   string `json:"tap,omitempty"`
	// Created: lanad created Block for this client and removes it at the end.
	Created bool `json:"created"`
	// Workers is the number of engine workers (queues) feeding the block.
	Workers int `json:"workers"`
	// Queue is the per-worker queue depth, Snap the most bytes per frame.
	Queue int `json:"queue"`
	Snap  int `json:"snap"`
	// MaxMessage is the largest datagram lanad accepts.
	MaxMessage int `json:"max_message"`
}

// SocketNextTo returns the data socket path that goes with a control
// socket: "data.sock" in the same directory.
func SocketNextTo(control string) string {
	return filepath.Join(filepath.Dir(control), "data.sock")
}
