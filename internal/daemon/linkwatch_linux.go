package daemon

import (
	"sync/atomic"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Queue states as api.Queue.State shows them.
const (
	stateUp   = "up"
	stateDown = "down"
	stateGone = "gone"
)

// linkState is a queue's interface state, written by the link watcher's
// goroutine and read by API handlers.
type linkState struct{ v atomic.Pointer[string] }

func (s *linkState) set(v string) (changed bool) {
	old := s.v.Swap(&v)
	return old == nil || *old != v
}

// String returns up, down or gone ("up" before the watcher's first word).
func (s *linkState) String() string {
	if v := s.v.Load(); v != nil {
		return *v
	}
	return stateUp
}

// watchLinks follows the served interfaces through netlink link messages
// in the calling thread's network namespace (Start's): a link that goes
// down marks its queues down, one that comes back up marks them up, a
// deleted link marks them gone for good (its ifindex may be reused by
// another interface later; lanad does not follow it there). Every change
// is logged. It returns the function that stops the watch.
//
// Nothing else reacts: the workers keep polling their sockets (a deleted
// interface's sockets simply never receive again), the XDP programs and
// sockets are released at Close as usual, so lanad neither crashes nor
// touches a reused ifindex.
func (r *Runtime) watchLinks() (stop func(), err error) {
	ch := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	if err := netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{ListExisting: true}); err != nil {
		return nil, err
	}
	byIndex := map[int][]*queue{}
	for _, q := range r.queues {
		q.state.set(stateUp)
		byIndex[q.info.Ifindex] = append(byIndex[q.info.Ifindex], q)
	}
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for u := range ch {
			qs := byIndex[int(u.Index)]
			if len(qs) == 0 || qs[0].state.String() == stateGone {
				continue
			}
			st := stateDown
			switch {
			case u.Header.Type == unix.RTM_DELLINK:
				st = stateGone
			case u.IfInfomsg.Flags&unix.IFF_UP != 0 && u.IfInfomsg.Flags&unix.IFF_RUNNING != 0:
				st = stateUp
			}
			changed := false
			for _, q := range qs {
				changed = q.state.set(st) || changed
			}
			if !changed {
				continue
			}
			name := qs[0].info.Interface
			switch st {
			case stateGone:
				r.log.Error("interface gone: its queues are dead until lanad restarts; the control API stays up", "interface", name, "ifindex", u.Index)
			case stateDown:
				r.log.Warn("link down: no frames until it comes back up", "interface", name)
			default:
				r.log.Info("link up", "interface", name)
			}
		}
	}()
	return func() { close(done); <-exited }, nil
}
