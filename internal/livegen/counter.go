package livegen

import "sync/atomic"

// uint64Counter is written by the sending thread and read by anyone.
type uint64Counter struct{ v atomic.Uint64 }

func (c *uint64Counter) store(v uint64) { c.v.Store(v) }
func (c *uint64Counter) load() uint64   { return c.v.Load() }
