package appwire

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParse feeds arbitrary datagrams to Parse and ParseMeta, as lanad and
// the client read them: no panic; a refusal wraps ErrShort or ErrVersion;
// an accepted datagram is exactly the header re-encoded plus the body, and
// an accepted Meta re-encodes to the same bytes (its reserved byte aside).
//
// Seeds: testdata/fuzz/FuzzParse and the cases below.
func FuzzParse(f *testing.F) {
	f.Add(AppendHeader(nil, TypeHello, 0, 2), []byte("{}"))
	f.Add(AppendHeader(nil, TypeFrame, 0, MetaLen+4), make([]byte, MetaLen+4))
	f.Add(AppendHeader(nil, TypeError, FlagFatal, 3), []byte("bad"))
	f.Add([]byte{2, 1, 0, 0, 0, 0, 0, 0}, []byte{})
	f.Add([]byte{Version, 4, 0, 0, 0xff, 0xff, 0xff, 0xff}, []byte{1})
	f.Fuzz(func(t *testing.T, head, body []byte) {
		msg := append(append([]byte(nil), head...), body...)
		h, b, err := Parse(msg)
		if err != nil {
			if !errors.Is(err, ErrShort) && !errors.Is(err, ErrVersion) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		again := append(AppendHeader(nil, h.Type, h.Flags, len(b)), b...)
		if !bytes.Equal(again, msg) {
			t.Fatalf("header %+v re-encodes as %x, read from %x", h, again, msg)
		}
		m, frame, err := ParseMeta(b)
		if err != nil {
			if !errors.Is(err, ErrShort) || len(b) >= MetaLen {
				t.Fatalf("meta of %d bytes: %v", len(b), err)
			}
			return
		}
		mb := make([]byte, MetaLen)
		PutMeta(mb, m)
		want := append([]byte(nil), b[:MetaLen]...)
		want[15] = 0
		if !bytes.Equal(mb, want) || len(frame) != len(b)-MetaLen {
			t.Fatalf("meta %+v re-encodes as %x, read from %x", m, mb, b[:MetaLen])
		}
	})
}
