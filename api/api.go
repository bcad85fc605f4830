package api

import (
	"sort"
	"strings"
	"time"
)

// Transport constants.
const (
	// DefaultSocket is where lanad listens unless told otherwise.
	DefaultSocket = "/run/lana/lanad.sock"
	// Prefix is the version prefix of every route.
	Prefix = "/v1"
	// MaxBody bounds a request body in bytes; larger requests get 413.
	MaxBody = 1 << 20
)

// Routes, relative to the server root. {op} is one of Ops; {name} a block.
const (
	RouteVerb          = Prefix + "/verbs/{op}"    // POST Verb -> Result
	RouteTransaction   = Prefix + "/transaction"   // POST Transaction -> Result
	RouteList          = Prefix + "/list"          // GET -> List
	RouteBlocks        = Prefix + "/blocks"        // GET -> []Block
	RouteBlock         = Prefix + "/blocks/{name}" // GET -> BlockDetail
	RouteTypes         = Prefix + "/types"         // GET -> []string
	RouteBindings      = Prefix + "/bindings"      // GET -> []Binding
	RouteSubscriptions = Prefix + "/subscriptions" // GET -> []Subscription
	RouteQueues        = Prefix + "/queues"        // GET -> []Queue
	RouteStats         = Prefix + "/stats"         // GET -> Stats
	RouteSave          = Prefix + "/save"          // GET -> Saved
	RouteReload        = Prefix + "/reload"        // POST -> Result (as SIGHUP)
	// RouteStream upgrades the connection to a stream of transactions:
	// POST with "Connection: Upgrade" and "Upgrade: " + StreamProtocol
	// answers 101, then each line the client sends is a Transaction and
	// each line lanad answers is its StreamReply (see the package doc).
	RouteStream = Prefix + "/stream"
	// RouteReplay makes lanad itself apply a list of transactions on a
	// schedule: POST Replay -> ReplayResult, answered when the replay ends.
	RouteReplay = Prefix + "/replay"
)

// StreamProtocol is the Upgrade token of RouteStream.
const StreamProtocol = "lana-stream/1"

// Ops are the verbs the API accepts, matched exactly (never by prefix).
var Ops = []string{"add", "rm", "set", "bind", "unbind", "replace", "replace-drop",
	"subscribe", "unsubscribe", "hook", "unhook"}

// Verb is one LANA control verb.
//
//	add NAME TYPE     Args [NAME, TYPE], Options the block's options
//	rm NAME           Args [NAME]
//	set NAME          Args [NAME], Options the keys to change
//	bind A B          Args [A, B]: ingress A -> B, egress B -> A; A may be "A:output"
//	unbind A B        Args [A, B]
//	replace A B       Args [A, B]: B takes A's place and state (same type)
//	replace-drop A B  Args [A, B]: B takes A's place, fresh state
//	subscribe A B     Args [A, B]: B receives A's events
//	unsubscribe A B   Args [A, B]
//	hook NAME         Args [NAME]: received frames enter at NAME
//	unhook            no Args
type Verb struct {
	Op      string            `json:"op"`
	Args    []string          `json:"args,omitempty"`
	Options map[string]string `json:"options,omitempty"`
}

// String renders v as a command line: "add c0 counter k=v", options sorted.
func (v Verb) String() string {
	w := append([]string{v.Op}, v.Args...)
	keys := make([]string, 0, len(v.Options))
	for k := range v.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w = append(w, k+"="+v.Options[k])
	}
	return strings.Join(w, " ")
}

// Transaction is a list of verbs applied all or none.
type Transaction struct {
	Verbs []Verb `json:"verbs"`
}

// Result answers a successful change.
type Result struct {
	// Applied is the number of verbs applied.
	Applied int `json:"applied"`
}

// StreamReply answers one line of a stream: the number of verbs applied,
// or, when the transaction was refused (and nothing changed), the message
// and kind an Error would carry.
type StreamReply struct {
	Applied int    `json:"applied"`
	Message string `json:"error,omitempty"`
	Kind    string `json:"kind,omitempty"`
}

// Err returns the refusal as an *Error, or nil when the line was applied.
func (r StreamReply) Err() error {
	if r.Message == "" && r.Kind == "" {
		return nil
	}
	return &Error{Message: r.Message, Kind: r.Kind}
}

// Replay asks lanad to apply Transactions in turn, cycling through the
// list, one every Every, starting at once, until Count transactions were
// applied or For has passed, whichever comes first (at least one of the two
// is required). lanad keeps the pace itself, so a soak test of a
// reconfiguration (flip between two stacks every 10 ms for an hour while
// traffic flows) neither depends on a client's timing nor pays a round trip
// per change. Every transaction is checked before the first is applied; a
// transaction refused on the way (the stack changed under it) ends the
// replay, with what was applied staying applied. The replay also ends when
// the client goes away or lanad shuts down. lanad does not wait for its
// workers to leave the old graph after each transaction; the blocks the
// transactions retire are closed as the workers move on, and all of them by
// the time the replay answers.
type Replay struct {
	// Transactions are applied in order, then again from the first.
	Transactions []Transaction `json:"transactions"`
	// Every is the period, a Go duration ("10ms"), from MinReplayEvery up.
	Every string `json:"every"`
	// Count is how many transactions to apply in all (0: no limit).
	Count int `json:"count,omitempty"`
	// For bounds the replay's duration, a Go duration up to MaxReplayFor
	// ("": no limit).
	For string `json:"for,omitempty"`
}

// Limits of a Replay.
const (
	MinReplayEvery = time.Millisecond
	MaxReplayFor   = 24 * time.Hour
)

// Why a replay ended (ReplayResult.Stopped).
const (
	ReplayCount     = "count"     // Count transactions were applied
	ReplayFor       = "for"       // For passed
	ReplayRefused   = "refused"   // a transaction was refused (ReplayResult.Error)
	ReplayCancelled = "cancelled" // the client went away
	ReplayShutdown  = "shutdown"  // lanad shut down
)

// ReplayResult says how a replay went.
type ReplayResult struct {
	// Applied counts the transactions applied, Verbs their verbs.
	Applied int `json:"applied"`
	Verbs   int `json:"verbs"`
	// Late counts the periods that passed without a transaction because
	// the one before took longer than Every (each such period is skipped,
	// not made up for later).
	Late int `json:"late"`
	// Delayed counts the transactions applied a period or more after
	// their time (included in Applied). While the workers receive, lanad
	// hands them a chain of transactions to apply at their times; when
	// they stop receiving mid-chain, the rest waits for the chain's end,
	// at most 100ms.
	Delayed int `json:"delayed,omitempty"`
	// Chained counts the transactions handed to the workers in chains
	// (included in Applied); the others lanad applied one at a time.
	Chained int `json:"chained,omitempty"`
	// Elapsed is the time from the first transaction to the end, a Go
	// duration.
	Elapsed string `json:"elapsed"`
	// Stopped is why the replay ended: ReplayCount, ReplayFor,
	// ReplayRefused, ReplayCancelled or ReplayShutdown.
	Stopped string `json:"stopped"`
	// Error is the refusal that ended the replay, naming the transaction
	// (set only when Stopped is ReplayRefused).
	Error *Error `json:"error,omitempty"`
}

// Error is the body of every failed request.
type Error struct {
	// Message names the culprit and the rule it broke.
	Message string `json:"error"`
	// Kind classifies the failure: bad-request, not-found, conflict,
	// forbidden, too-large, internal, unavailable.
	Kind string `json:"kind"`
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Block describes one block of the running stack.
type Block struct {
	Name    string            `json:"name"`
	Type    string            `json:"type"`
	Options map[string]string `json:"options"`
	// Up is the block above on the ingress path, Down the one below.
	Up   string `json:"up,omitempty"`
	Down string `json:"down,omitempty"`
	// Outputs maps each named output to the block bound to it ("" free).
	Outputs map[string]string `json:"outputs,omitempty"`
	// Subscribers receive this block's events.
	Subscribers []string `json:"subscribers,omitempty"`
	// Hooked is true for the entry block.
	Hooked bool `json:"hooked,omitempty"`
	// Failed is the panic message of a block whose Process panicked; a
	// failed block passes packets on untouched until it is replaced.
	Failed string `json:"failed,omitempty"`
}

// Binding is one "bind Below Above": ingress Below -> Above. Below may
// name an output as "block:output".
type Binding struct {
	Below string `json:"below"`
	Above string `json:"above"`
}

// Subscription says Subscriber receives Block's events.
type Subscription struct {
	Block      string `json:"block"`
	Subscriber string `json:"subscriber"`
}

// Queue is one NIC queue served by one pinned worker.
type Queue struct {
	Worker    int    `json:"worker"`
	Interface string `json:"interface"`
	Ifindex   int    `json:"ifindex"`
	Queue     int    `json:"queue"`
	// CPU is the pinned CPU, -1 when unpinned.
	CPU int `json:"cpu"`
	// Poll is busy, wakeup or adaptive.
	Poll string `json:"poll"`
	// Mode is the AF_XDP mode the kernel granted (copy or zero-copy).
	Mode string `json:"mode"`
	// Attach is how the XDP program is attached (driver or generic).
	Attach string `json:"attach"`
	// State is the interface's state as lanad last saw it: "up",
	// "down" (administratively or no carrier: frames stop, the queue
	// resumes on up) or "gone" (the interface was deleted; the queue
	// stays dead until lanad restarts, the control API keeps working).
	State string `json:"state"`
}

// List is the whole running configuration at once.
type List struct {
	Hook          string         `json:"hook,omitempty"`
	Blocks        []Block        `json:"blocks"`
	Types         []string       `json:"types"`
	Bindings      []Binding      `json:"bindings"`
	Subscriptions []Subscription `json:"subscriptions"`
	Queues        []Queue        `json:"queues"`
}

// BlockStats are one block's counters summed over workers.
type BlockStats struct {
	Packets     uint64            `json:"packets"`
	Bytes       uint64            `json:"bytes"`
	Vectors     uint64            `json:"vectors"`
	Drops       map[string]uint64 `json:"drops,omitempty"`
	NsPerPacket float64           `json:"ns_per_packet"`
	// Panics counts Process calls that panicked (every instance under
	// this name).
	Panics uint64 `json:"panics,omitempty"`
	// Counters are the block's own counters, for blocks that keep some
	// (engine.Reporter: counter, tee, vlink, bpf, socket-export).
	Counters map[string]uint64 `json:"counters,omitempty"`
}

// BlockDetail is one block with its counters (lanactl show).
type BlockDetail struct {
	Block
	Stats BlockStats `json:"stats"`
}

// XDPStats are the kernel's counters of one AF_XDP socket (XDP_STATISTICS).
type XDPStats struct {
	RxDropped            uint64 `json:"rx_dropped"`
	RxInvalidDescs       uint64 `json:"rx_invalid_descs"`
	TxInvalidDescs       uint64 `json:"tx_invalid_descs"`
	RxRingFull           uint64 `json:"rx_ring_full"`
	RxFillRingEmptyDescs uint64 `json:"rx_fill_ring_empty_descs"`
	TxRingEmptyDescs     uint64 `json:"tx_ring_empty_descs"`
}

// QueueStats are one queue's counters.
type QueueStats struct {
	Queue
	RxPackets uint64 `json:"rx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	Vectors   uint64 `json:"vectors"`
	Idle      uint64 `json:"idle"`
	Polls     uint64 `json:"polls"`
	Swaps     uint64 `json:"swaps"`
	// Yields counts the worker's yields to the Go scheduler before a sleep
	// (at most one per 5ms; see engine.Worker.Run).
	Yields uint64 `json:"yields"`
	// FillTarget is how many frames the worker now leaves in the kernel's
	// hands to receive into (lanad's fill_target, doubled after each burst
	// that nearly drained them, halved again once bursts stop).
	FillTarget int               `json:"fill_target"`
	Drops      map[string]uint64 `json:"drops,omitempty"`
	XDP        XDPStats          `json:"xdp"`
	// Frames says where the queue's UMEM frames are; Free + Spare + Kernel
	// + InTX + Held always equals Total, and a leak shows as Held (or Free)
	// drifting while traffic is steady.
	Frames Frames `json:"frames"`
	// Thread is the worker's OS thread id once it received a vector, for
	// reading its CPU time from /proc; only with lanad's bench.pace_dir.
	Thread int `json:"thread,omitempty"`
}

// Frames is one worker's UMEM frame accounting (engine.FrameCounts).
type Frames struct {
	Total  int `json:"total"`
	Free   int `json:"free"`
	Spare  int `json:"spare"` // waiting for applications' and TAPs' sends (engine Port.Alloc)
	Kernel int `json:"kernel"`
	InTX   int `json:"in_tx"`
	Held   int `json:"held"`
}

// ProgramStats are the XDP program's counters on one interface.
type ProgramStats struct {
	Interface  string `json:"interface"`
	Redirected uint64 `json:"redirected"`
	NotSteered uint64 `json:"not_steered"`
	NoSocket   uint64 `json:"no_socket"`
	Short      uint64 `json:"short"`
	Steering   string `json:"steering"`
}

// Stats are every counter of the daemon (lanactl stats).
type Stats struct {
	Blocks   map[string]BlockStats `json:"blocks"`
	Queues   []QueueStats          `json:"queues"`
	Programs []ProgramStats        `json:"programs"`
}

// Saved is the running stack in configuration-file form.
type Saved struct {
	// Config is a complete lanad configuration file (YAML) that lanad
	// loads unchanged.
	Config string `json:"config"`
}
