package fakeslack

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// maxBody bounds what the fake reads of a request body.
const maxBody = 32 << 20

// Call is one Web API request as the fake received and answered it. Treat
// its maps as read-only.
type Call struct {
	// Method is the Web API method, "chat.postMessage".
	Method string
	// Form holds the query and the form-encoded or multipart fields of the
	// body, the "token" field included.
	Form url.Values
	// JSON is the body when it was a JSON object, else nil.
	JSON map[string]any
	// Body is the raw body.
	Body []byte
	// Header is the request's header.
	Header http.Header
	// Token is the bearer token, else the "token" field; "" if neither.
	Token string
	// Status is the HTTP status the fake answered, and Error the "error"
	// of its answer ("" when ok).
	Status int
	Error  string
	// TS is the ts of the message a chat.postMessage posted ("" if none).
	TS string
	// At is when the fake received the call.
	At time.Time
}

// Param is the named argument: the form field, else the JSON field (a
// string as is, anything else JSON-encoded); "" if absent.
func (c Call) Param(name string) string {
	if v, ok := c.Form[name]; ok && len(v) > 0 {
		return v[0]
	}
	switch v := c.JSON[name].(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// Blocks decodes the call's "blocks" argument (slack-go sends it as one
// JSON-encoded form field); nil if absent or malformed (the fake answers
// invalid_blocks to malformed blocks).
func (c Call) Blocks() []map[string]any {
	blocks, _ := decodeBlocks(c)
	return blocks
}

// decodeBlocks decodes the "blocks" argument: nil, nil when absent; an
// error unless it is an array of objects that each have a "type".
func decodeBlocks(c Call) ([]map[string]any, error) {
	raw := c.Param("blocks")
	if raw == "" {
		return nil, nil
	}
	var blocks []map[string]any
	if err := json.Unmarshal([]byte(raw), &blocks); err != nil {
		return nil, err
	}
	if blocks == nil {
		return nil, errors.New("blocks: null")
	}
	for i, b := range blocks {
		if t, _ := b["type"].(string); t == "" {
			return nil, fmt.Errorf("blocks[%d]: no type", i)
		}
	}
	return blocks, nil
}

// Calls returns the recorded Web API calls of method, in order; method ""
// returns every call.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.callsLocked(method)
}

func (s *Server) callsLocked(method string) []Call {
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// WaitCalls waits until at least n calls of method ("" for any) have been
// recorded and returns them all. On timeout it fails the test with every
// call the fake has seen.
func (s *Server) WaitCalls(t testing.TB, method string, n int, timeout time.Duration) []Call {
	t.Helper()
	var got []Call
	ok := s.waitUntil(timeout, func() bool {
		got = s.callsLocked(method)
		return len(got) >= n
	})
	if !ok {
		name := method
		if name == "" {
			name = "Web API"
		}
		t.Fatalf("fakeslack: waited %v for %d %s calls, got %d; calls seen:\n%s", timeout, n, name, len(got), s.describeCalls())
	}
	return got
}

// describeCalls lists every recorded call, one a line, for failure messages.
func (s *Server) describeCalls() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.calls) == 0 {
		return "  (none)"
	}
	var b strings.Builder
	for _, c := range s.calls {
		outcome := "ok"
		if c.Error != "" {
			outcome = c.Error
		}
		fmt.Fprintf(&b, "  +%v %s -> %d %s", c.At.Sub(s.started).Round(time.Millisecond), c.Method, c.Status, outcome)
		keys := make([]string, 0, len(c.Form))
		for k := range c.Form {
			if k != "token" {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%q", k, truncate(c.Form.Get(k), 60))
		}
		if c.JSON != nil {
			fmt.Fprintf(&b, " json=%s", truncate(string(c.Body), 120))
		}
		b.WriteByte('\n')
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// obj is a JSON object the fake answers.
type obj = map[string]any

func fail(code string) obj { return obj{"ok": false, "error": code} }

// methods are the Web API methods the fake implements. Each runs under s.mu
// after the token has been checked, and answers with HTTP 200.
var methods = map[string]func(*Server, *Call) obj{
	"auth.test":                    (*Server).authTest,
	"chat.postMessage":             (*Server).chatPostMessage,
	"chat.update":                  (*Server).chatUpdate,
	"chat.postEphemeral":           (*Server).chatPostEphemeral,
	"usergroups.users.list":        (*Server).usergroupsUsersList,
	"users.info":                   (*Server).usersInfo,
	"conversations.info":           (*Server).conversationsInfo,
	"files.getUploadURLExternal":   (*Server).filesGetUploadURLExternal,
	"files.completeUploadExternal": (*Server).filesCompleteUploadExternal,
	"apps.connections.open":        (*Server).appsConnectionsOpen,
}

// serveAPI answers POST or GET /api/<method>, recording the call whatever
// the answer.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	c := Call{
		Method: strings.TrimPrefix(r.URL.Path, "/api/"),
		Body:   body,
		Header: r.Header.Clone(),
		At:     time.Now(),
	}
	parseErr := parseBody(r, body, &c)
	c.Token = c.Form.Get("token")
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		c.Token = bearer
	}

	s.mu.Lock()
	status, retryAfter, answer := s.answerLocked(&c, parseErr)
	c.Status = status
	s.calls = append(s.calls, c)
	s.notifyLocked()
	scopes := s.scopes
	s.mu.Unlock()

	if c.Error == "unknown_method" || c.Error == "invalid_auth" || c.Error == "invalid_json" {
		s.t.Logf("fakeslack: %s %s: %s", r.Method, r.URL.Path, c.Error)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if scopes != "" {
		w.Header().Set("X-OAuth-Scopes", scopes)
	}
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	w.WriteHeader(status)
	_, _ = w.Write(answer)
}

// parseBody fills c.Form and c.JSON from the query and the body.
func parseBody(r *http.Request, body []byte, c *Call) error {
	c.Form = r.URL.Query()
	if len(body) == 0 {
		return nil
	}
	mediaType, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mediaType {
	case "application/json":
		return json.Unmarshal(body, &c.JSON)
	case "multipart/form-data":
		form, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).ReadForm(maxBody)
		if err != nil {
			return err
		}
		defer func() { _ = form.RemoveAll() }()
		for k, vs := range form.Value {
			c.Form[k] = append(c.Form[k], vs...)
		}
		return nil
	default: // slack-go always says application/x-www-form-urlencoded
		values, err := url.ParseQuery(string(body))
		for k, vs := range values {
			c.Form[k] = append(c.Form[k], vs...)
		}
		return err
	}
}

// answerLocked decides the answer to c and sets c.Error.
func (s *Server) answerLocked(c *Call, parseErr error) (status, retryAfter int, body []byte) {
	if a, ok := s.nextFailureLocked(c.Method); ok {
		c.Error = a.errorCode()
		body := []byte(a.Body)
		if a.Body == "" {
			body = mustJSON(fail(c.Error))
		} else if e := errorOf(body); e != "" {
			c.Error = e
		}
		return a.status(), a.RetryAfter, body
	}
	answer := s.handleLocked(c, parseErr)
	if ok, _ := answer["ok"].(bool); !ok {
		c.Error, _ = answer["error"].(string)
	}
	return http.StatusOK, 0, mustJSON(answer)
}

func (s *Server) handleLocked(c *Call, parseErr error) obj {
	handle, known := methods[c.Method]
	switch {
	case !known:
		return fail("unknown_method")
	case parseErr != nil && strings.HasPrefix(c.Header.Get("Content-Type"), "application/json"):
		return fail("invalid_json")
	case parseErr != nil:
		return fail("invalid_form_data")
	}
	want := s.botToken
	if c.Method == "apps.connections.open" {
		want = s.appToken
		if c.Token != "" && c.Token == s.botToken && c.Token != want {
			return fail("not_allowed_token_type")
		}
	}
	switch c.Token {
	case "":
		return fail("not_authed")
	case want:
		return handle(s, c)
	default:
		return fail("invalid_auth")
	}
}

// errorOf is the "error" field of a JSON answer, "" if none.
func errorOf(body []byte) string {
	var a struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &a)
	return a.Error
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("fakeslack: marshal answer: %v", err))
	}
	return b
}

func (s *Server) authTest(*Call) obj {
	return obj{"ok": true, "url": TeamURL, "team": TeamName, "user": BotName,
		"team_id": TeamID, "user_id": BotUserID, "bot_id": BotID}
}

// nextTSLocked returns a message timestamp later than any before it, in
// Slack's "seconds.microseconds" form.
func (s *Server) nextTSLocked() string {
	s.tsSeq++
	micros := int64(1732770000)*1_000_000 + int64(s.tsSeq)*100
	return fmt.Sprintf("%d.%06d", micros/1_000_000, micros%1_000_000)
}

// message builds the message object Slack echoes back.
func message(c *Call, ts string, blocks []map[string]any) obj {
	m := obj{"type": "message", "user": BotUserID, "bot_id": BotID, "text": c.Param("text"), "ts": ts}
	if blocks != nil {
		m["blocks"] = blocks
	}
	if th := c.Param("thread_ts"); th != "" {
		m["thread_ts"] = th
	}
	return m
}

func (s *Server) chatPostMessage(c *Call) obj {
	channel := c.Param("channel")
	if channel == "" {
		return fail("channel_not_found")
	}
	blocks, err := decodeBlocks(*c)
	if err != nil {
		return fail("invalid_blocks")
	}
	if c.Param("text") == "" && blocks == nil && c.Param("attachments") == "" {
		return fail("no_text")
	}
	ts := s.nextTSLocked()
	s.messages[channel+" "+ts] = true
	c.TS = ts
	return obj{"ok": true, "channel": channel, "ts": ts, "message": message(c, ts, blocks)}
}

// chatUpdate updates a message posted through this fake; any other gets
// message_not_found.
func (s *Server) chatUpdate(c *Call) obj {
	channel, ts := c.Param("channel"), c.Param("ts")
	if channel == "" {
		return fail("channel_not_found")
	}
	if !s.messages[channel+" "+ts] {
		return fail("message_not_found")
	}
	blocks, err := decodeBlocks(*c)
	if err != nil {
		return fail("invalid_blocks")
	}
	return obj{"ok": true, "channel": channel, "ts": ts, "text": c.Param("text"), "message": message(c, ts, blocks)}
}

func (s *Server) chatPostEphemeral(c *Call) obj {
	if c.Param("channel") == "" {
		return fail("channel_not_found")
	}
	if c.Param("user") == "" {
		return fail("invalid_arguments")
	}
	if _, err := decodeBlocks(*c); err != nil {
		return fail("invalid_blocks")
	}
	return obj{"ok": true, "message_ts": s.nextTSLocked()}
}

func (s *Server) usergroupsUsersList(c *Call) obj {
	if s.planUpgradeRequired {
		return fail("plan_upgrade_required")
	}
	users, ok := s.groups[c.Param("usergroup")]
	if !ok {
		return fail("no_such_subteam")
	}
	return obj{"ok": true, "users": users}
}

func (s *Server) usersInfo(c *Call) obj {
	id := c.Param("user")
	name, ok := s.users[id]
	if !ok {
		return fail("user_not_found")
	}
	return obj{"ok": true, "user": obj{
		"id": id, "team_id": TeamID, "name": name, "real_name": name, "deleted": false, "is_bot": false,
		"profile": obj{"display_name": name, "real_name": name},
	}}
}

func (s *Server) conversationsInfo(c *Call) obj {
	id := c.Param("channel")
	if o, ok := s.outsideChannels[id]; ok {
		return obj{"ok": true, "channel": obj{
			"id": id, "name": o.name, "is_channel": !o.private, "is_group": o.private, "is_private": o.private, "is_member": false,
		}}
	}
	name, ok := s.channels[id]
	if !ok {
		return fail("channel_not_found")
	}
	return obj{"ok": true, "channel": obj{
		"id": id, "name": name, "is_channel": true, "is_private": false, "is_member": true,
	}}
}
