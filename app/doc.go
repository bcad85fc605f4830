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
//     transient causes such as an empty frame pool).
//   - Egress frames come from the block's pool, refilled by received
//     frames (see package sockexport): an application sends, in the long
//     run, about as many frames as it receives.
package app
