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
// # Streams
//
// A client that reconfigures often (a script, an autonomic agent) can keep
// one connection for many transactions: POST RouteStream with the headers
// "Connection: Upgrade" and "Upgrade: lana-stream/1" (StreamProtocol) and
// an empty body. lanad answers "101 Switching Protocols"; from then on the
// connection carries newline-terminated JSON, one Transaction per line from
// the client and one StreamReply per line from lanad, in order:
//
//	> {"verbs":[{"op":"add","args":["c1","counter"]},{"op":"replace","args":["c0","c1"]}]}
//	< {"applied":2}
//	> {"verbs":[{"op":"rm","args":["nope"]}]}
//	< {"applied":0,"error":"stream line 2: verb 1: rm nope: block \"nope\": no such block","kind":"not-found"}
//
// Each line is applied all or none, like RouteTransaction; a refused line
// changes nothing and the stream goes on. A line that is not one JSON
// Transaction gets a bad-request reply; a line over MaxBody bytes ends the
// stream. Either side may close it at any time. lanad logs each stream
// opening and closing (with its counts) and refused lines; the lines it
// applies are logged at debug level only, so a stream of many changes a
// second does not flood the log. The per-request routes stay for everything
// else.
//
// # Replays
//
// POST RouteReplay with a Replay makes lanad apply a list of transactions
// itself, one every period, cycling through the list, for a count or a
// duration: a soak test of a reconfiguration (two stacks swapped every
// 10 ms for an hour while traffic flows) then keeps its pace to the timer
// and costs no round trip per change. Every transaction is checked before
// the first is applied (a malformed one gets a bad-request answer and
// nothing happens). The answer, a ReplayResult, comes when the replay
// ends: the count reached, the time up, a transaction refused (what was
// applied before it stays), the client gone or lanad shutting down.
//
//	> {"transactions":[{"verbs":[{"op":"add","args":["d-a","dummy"]},{"op":"replace","args":["d","d-a"]}]},
//	>                  {"verbs":[{"op":"add","args":["d-b","dummy"]},{"op":"replace","args":["d","d-b"]}]}],
//	>  "every":"10ms","for":"1m"}
//	< {"applied":6000,"verbs":12000,"late":0,"elapsed":"1m0.000412s","stopped":"for"}
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
