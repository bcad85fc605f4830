package xsk

import "errors"

// Sentinel errors. Functions wrap them with context; test with errors.Is.
var (
	// ErrInvalidConfig reports a UMEM, ring or socket parameter that breaks
	// a rule; the message states the rule.
	ErrInvalidConfig = errors.New("invalid xsk configuration")
	// ErrNoInterface reports an interface index that does not exist in the
	// calling thread's network namespace.
	ErrNoInterface = errors.New("no such interface")
	// ErrQueueRange reports a queue id outside the interface's RX queues.
	ErrQueueRange = errors.New("queue out of range")
	// ErrZeroCopyUnsupported reports that ModeZeroCopy was forced on a
	// driver or queue that cannot do it.
	ErrZeroCopyUnsupported = errors.New("zero-copy AF_XDP not supported")
	// ErrUMEMClosed reports an attempt to share a UMEM whose registering
	// socket is closed.
	ErrUMEMClosed = errors.New("umem closed")
	// ErrSocketClosed reports a call on a closed socket.
	ErrSocketClosed = errors.New("xsk socket closed")
)
