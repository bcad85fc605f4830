package engine

import "github.com/lana-net/lana/xsk"

var _ Wakeable = (*xsk.Socket)(nil)
var _ Queue = (*xsk.MemQueue)(nil)

// SocketWorker returns the WorkerConfig that runs a worker on socket s: its
// rings, its UMEM (every frame, unless the caller narrows Frames for a UMEM
// shared between sockets) and its queue index. Set Pin, CPU and Mode on the
// result before passing it to New.
func SocketWorker(s *xsk.Socket) WorkerConfig {
	return WorkerConfig{Queue: s, UMEM: s.UMEM(), QueueID: uint16(s.Queue())}
}
