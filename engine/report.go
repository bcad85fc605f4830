package engine

// Reporter is implemented by blocks that keep counters of their own beyond
// the engine's per-block statistics: a vlink's rx/tx, a filter's passed and
// filtered, an application's sends. The control plane reads them, off the
// data path, from any goroutine; Counters may allocate. Keys are short
// snake_case names, stable across versions: they appear in lanactl show and
// in the control API.
type Reporter interface {
	Counters() map[string]uint64
}
