package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/lana-net/lana/api"
	"github.com/lana-net/lana/engine"
)

// replayPlan is a checked api.Replay.
type replayPlan struct {
	txns  [][]api.Verb
	verbs int           // in all of txns, for the log
	every time.Duration // period
	count int           // transactions to apply in all; 0: no limit
	dur   time.Duration // how long at most; 0: no limit
}

// checkReplay validates every part of req before anything is applied.
func checkReplay(req api.Replay) (replayPlan, error) {
	var p replayPlan
	if len(req.Transactions) == 0 {
		return p, errors.New("replay: no transactions: give at least one")
	}
	for i, t := range req.Transactions {
		if len(t.Verbs) == 0 {
			return p, fmt.Errorf("replay: transaction %d: no verbs", i+1)
		}
		for j, v := range t.Verbs {
			if _, err := EngineVerb(v); err != nil {
				return p, fmt.Errorf("replay: transaction %d: verb %d: %w", i+1, j+1, err)
			}
		}
		p.txns = append(p.txns, t.Verbs)
		p.verbs += len(t.Verbs)
	}
	var err error
	if req.Every == "" {
		return p, fmt.Errorf("replay: every: missing; give the period, e.g. \"10ms\" (at least %v)", api.MinReplayEvery)
	}
	if p.every, err = time.ParseDuration(req.Every); err != nil {
		return p, fmt.Errorf("replay: every %q: not a duration (e.g. \"10ms\")", req.Every)
	}
	if p.every < api.MinReplayEvery {
		return p, fmt.Errorf("replay: every %v: must be at least %v", p.every, api.MinReplayEvery)
	}
	if req.Count < 0 {
		return p, fmt.Errorf("replay: count %d: must not be negative", req.Count)
	}
	p.count = req.Count
	if req.For != "" {
		if p.dur, err = time.ParseDuration(req.For); err != nil {
			return p, fmt.Errorf("replay: for %q: not a duration (e.g. \"1m\")", req.For)
		}
		if p.dur <= 0 || p.dur > api.MaxReplayFor {
			return p, fmt.Errorf("replay: for %v: must be above 0 and at most %v", p.dur, api.MaxReplayFor)
		}
	}
	switch {
	case p.count == 0 && p.dur == 0:
		return p, errors.New("replay: neither count nor for given: say when to stop")
	case p.dur == 0 && time.Duration(p.count-1) > api.MaxReplayFor/p.every:
		return p, fmt.Errorf("replay: count %d every %v lasts over %v: lower count or give for", p.count, p.every, api.MaxReplayFor)
	}
	return p, nil
}

// replay serves api.RouteReplay: it checks the request, runs the replay on
// the request's goroutine and answers when it ends.
func (s *Server) replay(w http.ResponseWriter, r *http.Request) {
	var req api.Replay
	if !decode(w, r, &req) {
		return
	}
	p, err := checkReplay(req)
	if err != nil {
		fail(w, http.StatusBadRequest, "bad-request", err.Error())
		return
	}
	// The server's read deadline, set for the request, would end the
	// request's context (net/http watches the idle connection for the
	// client going away) long before a replay of minutes.
	if err := http.NewResponseController(w).SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		fail(w, http.StatusInternalServerError, "internal", "replay: cannot lift the read deadline: "+err.Error())
		return
	}
	who := peerName(r)
	s.log.Info("replay started", "peer", who, "transactions", len(p.txns), "verbs", p.verbs,
		"every", p.every, "count", p.count, "for", p.dur)
	res := s.runReplay(r.Context(), p)
	args := []any{"peer", who, "applied", res.Applied, "late", res.Late, "delayed", res.Delayed, "chained", res.Chained, "elapsed", res.Elapsed, "stopped", res.Stopped}
	if res.Error != nil {
		args = append(args, "error", res.Error.Message)
	}
	s.log.Info("replay ended", args...)
	reply(w, res)
}

// chainSpan is how much of a replay one chain of scheduled transactions
// covers (engine.Schedule).
const chainSpan = 100 * time.Millisecond

// runReplay applies p's transactions in turn at start + k*every (slot k)
// until p says stop, ctx ends or the server shuts down.
//
// While the workers are receiving, the replay hands them its transactions
// a chain at a time, each chain covering chainSpan (engine.Schedule): the
// workers publish each one between two vectors once its time has come, and
// the replay's goroutine wakes once per chain instead of once per
// transaction, on the CPUs it shares with them. When the workers stop
// receiving mid-chain, the rest of the chain is published at its end and
// counted as delayed; a transaction of a chain that another client's
// transaction dropped counts as late. Transactions
// that change the steered ethertypes or bring in a block that connects to
// the engine are not chained, and neither is any while the workers are
// idle: those are published by the replay itself, at their time.
//
// A transaction that ends after the next slot began still lets that slot
// run (late within its period); slots that passed entirely are skipped and
// counted as late. Transactions are logged at debug level, like a
// stream's. Each is published without waiting for the workers to leave the
// graph before it (Runtime.publish); the replay waits once, at its end, so
// that the blocks it retired are closed when it answers.
func (s *Server) runReplay(ctx context.Context, p replayPlan) (res api.ReplayResult) {
	start := time.Now()
	defer func() { res.Elapsed = time.Since(start).Round(time.Microsecond).String() }()
	defer func() {
		if err := s.rt.sync(); err != nil {
			s.log.Warn("replay: closing retired blocks", "err", err)
			if res.Error == nil {
				_, kind := classify(err)
				res.Error = &api.Error{Kind: kind, Message: "replay: closing retired blocks: " + err.Error()}
			}
		}
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	// wait sleeps until at after start; it reports why the replay must
	// stop instead, if it must.
	wait := func(at time.Duration) string {
		timer.Reset(time.Until(start.Add(at)))
		select {
		case <-timer.C:
			return ""
		case <-ctx.Done():
			return api.ReplayCancelled
		case <-s.stopping:
			return api.ReplayShutdown
		}
	}
	// waitFor waits out For once no slot is left before it, so that the
	// replay ends where the caller asked, and says why it ended.
	waitFor := func() string {
		if stop := wait(p.dur); stop != "" {
			return stop
		}
		return api.ReplayFor
	}
	slots := -1 // slots that start before For; -1: no limit
	if p.dur > 0 {
		slots = int((p.dur + p.every - 1) / p.every)
	}
	chaining := p.every < chainSpan
	seen, delayed := s.rt.vectors(), 0
	for slot := 0; ; {
		if v := s.rt.vectors(); chaining && v != seen {
			seen = v
			n, stop, err := s.runChain(&res, p, start, slot, slots, wait)
			if n > 0 && res.Delayed > delayed {
				// The workers stopped receiving during the chain: the next
				// slot goes the other way, and chains resume once frames
				// came in since.
				delayed, seen = res.Delayed, s.rt.vectors()
			}
			if n == 0 && errors.Is(err, engine.ErrNotSchedulable) {
				s.log.Debug("replay: publishing each transaction itself", "reason", err)
				chaining = false
			}
			if n > 0 {
				if stop != "" {
					res.Stopped = stop
					return res
				}
				if p.count > 0 && res.Applied == p.count {
					res.Stopped = api.ReplayCount
					return res
				}
				if slot += n; slots >= 0 && slot >= slots {
					res.Stopped = waitFor()
					return res
				}
				continue
			}
		}
		if at := time.Duration(slot) * p.every; time.Since(start) < at {
			if stop := wait(at); stop != "" {
				res.Stopped = stop
				return res
			}
		}
		verbs := p.txns[res.Applied%len(p.txns)]
		if err := s.rt.publish(verbs, slog.LevelDebug); err != nil {
			_, kind := classify(err)
			res.Stopped = api.ReplayRefused
			res.Error = &api.Error{Kind: kind, Message: fmt.Sprintf("replay: transaction %d (the %d. applied): %v",
				res.Applied%len(p.txns)+1, res.Applied+1, err)}
			s.log.Warn("refused", "replay_transaction", res.Applied%len(p.txns)+1, "verbs", fmt.Sprint(verbs), "err", err)
			return res
		}
		res.Applied++
		res.Verbs += len(verbs)
		if p.count > 0 && res.Applied == p.count {
			res.Stopped = api.ReplayCount
			return res
		}
		next := slot + 1
		if cur := int(time.Since(start) / p.every); cur > next {
			res.Late += cur - next
			next = cur
		}
		if slots >= 0 && next >= slots {
			res.Stopped = waitFor()
			return res
		}
		slot = next
	}
}

// runChain schedules the transactions of slots from slot on, up to
// chainSpan's worth, the count and For, as one chain, waits for the last
// one's time and counts what was published into res. It returns how many
// slots the chain covered (0: none, for err: the replay then publishes the
// slot's transaction itself, which reports a refusal the usual way) and,
// if the replay must stop, why.
func (s *Server) runChain(res *api.ReplayResult, p replayPlan, start time.Time, slot, slots int,
	wait func(time.Duration) string) (int, string, error) {
	k := int(chainSpan / p.every)
	if p.count > 0 {
		k = min(k, p.count-res.Applied)
	}
	if slots >= 0 {
		k = min(k, slots-slot)
	}
	if k < 2 {
		return 0, "", nil
	}
	txns := make([][]api.Verb, k)
	at := make([]time.Time, k)
	for i := range txns {
		txns[i] = p.txns[(res.Applied+i)%len(p.txns)]
		at[i] = start.Add(time.Duration(slot+i) * p.every)
	}
	n, err := s.rt.schedule(txns, at)
	if n == 0 {
		return 0, "", err
	}
	stop := wait(time.Duration(slot+n-1) * p.every)
	var st engine.ScheduleState
	if stop == "" {
		st = s.rt.eng.RunDue()
	} else {
		st = s.rt.eng.Unschedule()
	}
	for i := range st.Published {
		res.Verbs += len(txns[i])
		if st.Late[i] >= p.every {
			res.Delayed++
		}
	}
	res.Applied += st.Published
	res.Chained += st.Published
	res.Late += st.Dropped
	s.log.Debug("replay: chain", "scheduled", n, "published", st.Published, "dropped", st.Dropped)
	return n, stop, nil
}
