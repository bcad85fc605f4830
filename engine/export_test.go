package engine

// MaxPending exposes maxPending to the external tests.
const MaxPending = maxPending
