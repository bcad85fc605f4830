// Package api holds the wire types of lanad's control API: the JSON bodies
// that the daemon (internal/daemon) sends and receives and the typed client
// (package client) decodes. It is a leaf package: it imports nothing of LANA,
// so the CLI and third-party tools can depend on it cheaply.
//
// # Transport
//
// HTTP/1.1 with JSON bodies on a Unix socket (DefaultSocket), every route
// under the version prefix Prefix ("/v1"). Requests are at most MaxBody bytes.
// A failed request answers with a non-2xx status and an Error body whose
// message names the culprit and the rule it broke; a failed verb or
// transaction changes nothing.
//
// # Authorisation
//
// The daemon reads each connection's peer credentials (SO_PEERCRED): root
// and members of the configured group may call every route, everybody else
// gets 403 with an Error body.
//
// # Compatibility
//
// Fields are only ever added within a version; a client must ignore fields it
// does not know. Routes of one version never change meaning.
package api
