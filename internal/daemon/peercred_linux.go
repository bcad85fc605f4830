package daemon

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Peer is the process at the other end of a control connection, as the
// kernel saw it at connect time (SO_PEERCRED).
type Peer struct {
	PID      int32
	UID, GID uint32
	// Groups are the supplementary groups, read from /proc/PID/status.
	Groups []uint32
}

// peerOf reads the credentials of a Unix socket connection's peer.
func peerOf(c net.Conn) (*Peer, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("peer credentials: %T is not a unix socket", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, fmt.Errorf("peer credentials: %w", err)
	}
	if cerr != nil {
		return nil, fmt.Errorf("peer credentials: SO_PEERCRED: %w", cerr)
	}
	p := &Peer{PID: cred.Pid, UID: cred.Uid, GID: cred.Gid}
	p.Groups = procGroups(cred.Pid)
	return p, nil
}

// procGroups returns the supplementary groups of pid, or nil when unknown
// (the process may have exited: it then gets only its primary group).
func procGroups(pid int32) []uint32 {
	f, err := os.Open("/proc/" + strconv.Itoa(int(pid)) + "/status")
	if err != nil {
		return nil
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		rest, ok := strings.CutPrefix(s.Text(), "Groups:")
		if !ok {
			continue
		}
		var gs []uint32
		for _, w := range strings.Fields(rest) {
			if g, err := strconv.ParseUint(w, 10, 32); err == nil {
				gs = append(gs, uint32(g))
			}
		}
		return gs
	}
	return nil
}
