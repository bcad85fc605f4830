package engine

// MaxPending exposes maxPending to the external tests.
const MaxPending = maxPending

// DueEvery exposes dueEvery to the external tests.
const DueEvery = dueEvery
