// Package app is the Go client of lanad's data socket: an application
// dials it, names or creates its socket-export block in the same call, and
// then receives the frames that reach the block and sends frames down the
// block's egress path to the wire.
//
//	c, err := app.Dial("", app.Options{Block: "echo", Below: "eth0:port5"})
//	n, err := c.Recv(buf)   // one frame
//	err = c.Send(frame)     // one frame down the stack
//
// # Lifetimes
//
// A block lanad created for the connection (Options.Below set) is removed
// when the connection closes, by Close or by the process dying; an existing
// block the connection attached to stays. A capture's tap likewise goes.
//
// # Concurrency and traps
//
//   - Recv and Send may run on different goroutines; each is serialised
//     with itself. Neither allocates.
//   - Frames that arrive while the application does not read wait in the
//     block's bounded queue and are dropped when it is full (counted as
//     "queue-full" in `lanactl stats`); the engine never waits.
//   - Send is asynchronous: a frame lanad could not send comes back as a
//     non-fatal *RemoteError from a later Recv (at most one a second for
//     transient causes such as no free UMEM frame at that moment).
//   - Egress frames come from the engine's per-worker spare rings (see
//     package sockexport), not from received traffic: a send-only
//     application works; one that sends faster than the workers recycle
//     frames gets "no egress frame available" and should resend later.
package app
