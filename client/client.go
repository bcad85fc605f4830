package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/lana-net/lana/api"
)

// Client talks to one lanad.
type Client struct {
	socket string
	hc     *http.Client
}

// New returns a client of the daemon listening on socket ("" means
// api.DefaultSocket).
func New(socket string) *Client {
	if socket == "" {
		socket = api.DefaultSocket
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}
	return &Client{socket: socket, hc: &http.Client{Transport: tr}}
}

// CloseIdle drops idle connections.
func (c *Client) CloseIdle() { c.hc.CloseIdleConnections() }

// StatusError is a daemon refusal: the HTTP status and the daemon's error.
type StatusError struct {
	Status int
	Err    *api.Error
}

// Error returns the daemon's message.
func (e *StatusError) Error() string { return e.Err.Message }

// Unwrap returns the *api.Error.
func (e *StatusError) Unwrap() error { return e.Err }

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://lanad"+path, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("connect to lanad at %s: %w", c.socket, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read reply: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var ae api.Error
		if json.Unmarshal(data, &ae) != nil || ae.Message == "" {
			ae = api.Error{Message: fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(data))), Kind: "internal"}
		}
		return &StatusError{Status: resp.StatusCode, Err: &ae}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode reply: %w", err)
	}
	return nil
}

// Verb applies one verb.
func (c *Client) Verb(ctx context.Context, v api.Verb) error {
	return c.do(ctx, http.MethodPost, api.Prefix+"/verbs/"+url.PathEscape(v.Op), v, &api.Result{})
}

// Transaction applies verbs all or none.
func (c *Client) Transaction(ctx context.Context, verbs ...api.Verb) error {
	return c.do(ctx, http.MethodPost, api.RouteTransaction, api.Transaction{Verbs: verbs}, &api.Result{})
}

// Replay makes lanad apply r's transactions itself on r's schedule and
// returns how it went once the replay ends (see api.Replay). Ending ctx
// ends the replay: lanad stops when the connection closes. The result's
// Stopped says why it ended; a refused transaction is reported there
// (Stopped api.ReplayRefused, Error set), not as an error; the error is for
// a replay that could not start (a malformed request) or a lost connection.
func (c *Client) Replay(ctx context.Context, r api.Replay) (api.ReplayResult, error) {
	var res api.ReplayResult
	err := c.do(ctx, http.MethodPost, api.RouteReplay, r, &res)
	return res, err
}

// Add creates block name of type typ with options.
func (c *Client) Add(ctx context.Context, name, typ string, opts map[string]string) error {
	return c.Verb(ctx, api.Verb{Op: "add", Args: []string{name, typ}, Options: opts})
}

// Remove deletes an unbound block.
func (c *Client) Remove(ctx context.Context, name string) error {
	return c.Verb(ctx, api.Verb{Op: "rm", Args: []string{name}})
}

// Set changes options of a block.
func (c *Client) Set(ctx context.Context, name string, opts map[string]string) error {
	return c.Verb(ctx, api.Verb{Op: "set", Args: []string{name}, Options: opts})
}

// Bind binds below under above (below may be "block:output").
func (c *Client) Bind(ctx context.Context, below, above string) error {
	return c.Verb(ctx, api.Verb{Op: "bind", Args: []string{below, above}})
}

// Unbind undoes Bind.
func (c *Client) Unbind(ctx context.Context, below, above string) error {
	return c.Verb(ctx, api.Verb{Op: "unbind", Args: []string{below, above}})
}

// Replace puts block nb in old's place; keepState false is replace-drop.
func (c *Client) Replace(ctx context.Context, old, nb string, keepState bool) error {
	op := "replace"
	if !keepState {
		op = "replace-drop"
	}
	return c.Verb(ctx, api.Verb{Op: op, Args: []string{old, nb}})
}

// Subscribe makes subscriber receive block's events.
func (c *Client) Subscribe(ctx context.Context, block, subscriber string) error {
	return c.Verb(ctx, api.Verb{Op: "subscribe", Args: []string{block, subscriber}})
}

// Unsubscribe undoes Subscribe.
func (c *Client) Unsubscribe(ctx context.Context, block, subscriber string) error {
	return c.Verb(ctx, api.Verb{Op: "unsubscribe", Args: []string{block, subscriber}})
}

// List returns the whole running configuration.
func (c *Client) List(ctx context.Context) (api.List, error) {
	var l api.List
	err := c.do(ctx, http.MethodGet, api.RouteList, nil, &l)
	return l, err
}

// Types returns the registered block types.
func (c *Client) Types(ctx context.Context) ([]string, error) {
	var t []string
	err := c.do(ctx, http.MethodGet, api.RouteTypes, nil, &t)
	return t, err
}

// Show returns one block with its counters.
func (c *Client) Show(ctx context.Context, name string) (api.BlockDetail, error) {
	var d api.BlockDetail
	err := c.do(ctx, http.MethodGet, api.Prefix+"/blocks/"+url.PathEscape(name), nil, &d)
	return d, err
}

// Stats returns every counter.
func (c *Client) Stats(ctx context.Context) (api.Stats, error) {
	var s api.Stats
	err := c.do(ctx, http.MethodGet, api.RouteStats, nil, &s)
	return s, err
}

// Save returns the running stack as a configuration file.
func (c *Client) Save(ctx context.Context) (string, error) {
	var s api.Saved
	err := c.do(ctx, http.MethodGet, api.RouteSave, nil, &s)
	return s.Config, err
}

// Reload makes lanad reload its configuration file (as SIGHUP does).
func (c *Client) Reload(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, api.RouteReload, nil, &api.Result{})
}

// Raw sends body (already JSON, or anything) to path with method and returns
// the status and the reply's bytes: for tests of malformed input.
func (c *Client) Raw(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://lanad"+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("connect to lanad at %s: %w", c.socket, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}
