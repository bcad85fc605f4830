package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/lana-net/lana/api"
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
	args := []any{"peer", who, "applied", res.Applied, "late", res.Late, "elapsed", res.Elapsed, "stopped", res.Stopped}
	if res.Error != nil {
		args = append(args, "error", res.Error.Message)
	}
	s.log.Info("replay ended", args...)
	reply(w, res)
}

// runReplay applies p's transactions in turn at start + k*every (slot k)
// until p says stop, ctx ends or the server shuts down. A transaction that
// ends after the next slot began still lets that slot run (late within its
// period); slots that passed entirely are skipped and counted as late.
// Transactions are logged at debug level, like a stream's. Each is
// published without waiting for the workers to leave the graph before it
// (Runtime.publish); the replay waits once, at its end, so that the blocks
// it retired are closed when it answers.
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
	for slot := 0; ; {
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
		at := time.Duration(next) * p.every
		if p.dur > 0 && at >= p.dur {
			// No transaction starts after For; wait it out so that the
			// replay's end is where the caller asked.
			at, next = p.dur, -1
		}
		timer.Reset(time.Until(start.Add(at)))
		select {
		case <-timer.C:
		case <-ctx.Done():
			res.Stopped = api.ReplayCancelled
			return res
		case <-s.stopping:
			res.Stopped = api.ReplayShutdown
			return res
		}
		if next < 0 {
			res.Stopped = api.ReplayFor
			return res
		}
		slot = next
	}
}
