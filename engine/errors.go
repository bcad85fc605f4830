package engine

import "errors"

// Errors returned by the control plane; match them with errors.Is.
var (
	// ErrUnknownType: no block type of that name is registered.
	ErrUnknownType = errors.New("unknown block type")
	// ErrExists: a block of that name already exists.
	ErrExists = errors.New("block exists")
	// ErrNotFound: no block of that name exists.
	ErrNotFound = errors.New("no such block")
	// ErrPortTaken: the ingress, egress or named output port is already bound.
	ErrPortTaken = errors.New("port already bound")
	// ErrNotBound: unbind of blocks that are not bound to each other.
	ErrNotBound = errors.New("not bound")
	// ErrBound: the block still has bindings (rm, replace's newcomer).
	ErrBound = errors.New("block is bound")
	// ErrCycle: the bindings would form a cycle.
	ErrCycle = errors.New("binding cycle")
	// ErrBadName: a block name breaks the naming rule.
	ErrBadName = errors.New("invalid block name")
	// ErrNoOutput: the block has no named output of that name.
	ErrNoOutput = errors.New("no such output")
	// ErrTypeMismatch: replace between blocks of different types.
	ErrTypeMismatch = errors.New("block types differ")
	// ErrBadVerb: a verb could not be parsed, or asks for nothing a graph
	// can hold (a block subscribing to itself).
	ErrBadVerb = errors.New("invalid verb")
	// ErrBadOption: an option key or value was refused.
	ErrBadOption = errors.New("invalid option")
	// ErrConfig: an engine or worker configuration was refused.
	ErrConfig = errors.New("invalid configuration")
	// ErrStopped: the engine is closed.
	ErrStopped = errors.New("engine closed")
	// ErrQueueFull: a lock-free hand-off queue had no room.
	ErrQueueFull = errors.New("queue full")
)
