// Package client is the typed Go client of lanad's control API (package
// api): one method per route, errors carrying the daemon's message.
//
// A Client holds an http.Client that dials the daemon's Unix socket for
// every connection; it is safe for concurrent use and needs no Close (idle
// connections are dropped by CloseIdle).
//
// Errors: a refusal by the daemon is an *api.Error (errors.As) whose Message
// names the culprit and the rule, plus the HTTP status in *StatusError; a
// transport failure (no daemon, permission denied on the socket) is wrapped
// with "connect to lanad at PATH".
package client
