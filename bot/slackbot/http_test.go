package slackbot

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/internal/fakeservice"
	"github.com/sanasend/sanasend-bot/internal/fakeslack"
	"github.com/sanasend/sanasend-bot/internal/syncbuf"
	"github.com/sanasend/sanasend-bot/manager"
)

const secret = "test-signing-secret-1234567890"

type directory struct{ fakeservice.Directory }

func (d directory) Lookup(name string) (bot.Service, error) {
	s, err := d.Get(name)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// frontFixture is the HTTP front end over a real router, a real staff list
// resolved through the fake Slack, and a fake service.
type frontFixture struct {
	fake   *fakeslack.Server
	svc    *fakeservice.Service
	srv    *httptest.Server
	front  *Front
	router *bot.Router
	audit  *syncbuf.Buffer
}

func newFrontFixture(t testing.TB) *frontFixture {
	t.Helper()
	fake := fakeslack.New(t)
	fake.SetUsergroupMembers("S0STAFF", "U0GROUPIE")
	api := NewClient("xoxb-test", fake.APIURL())
	audit := &syncbuf.Buffer{}
	log := zerolog.New(audit)
	staff, err := NewStaff(StaffConfig{Users: []string{"U0ALICE", "U0BOB"}, Usergroups: []string{"S0STAFF"},
		Command: "/sanasend", Refresh: 5 * time.Minute}, api, log, clockwork.NewFakeClock())
	if err != nil {
		t.Fatal(err)
	}
	if err := staff.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	svc := fakeservice.New("whatsapp")
	confirms, err := bot.NewConfirmStore(bot.ConfirmConfig{TTL: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	router, err := bot.NewRouter(bot.RouterConfig{Services: directory{fakeservice.Directory{svc}}, Auth: staff,
		Confirms: confirms, Audit: log})
	if err != nil {
		t.Fatal(err)
	}
	front, err := New(Config{SigningSecret: secret, Command: "/sanasend", AlertsChannel: "C0ALERTS", Logger: log}, router, api)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(front.Handler())
	t.Cleanup(func() {
		srv.Close()
		front.Wait()
		if strings.Contains(audit.String(), secret) || strings.Contains(audit.String(), "xoxb-test") {
			t.Error("a secret appears in the log")
		}
	})
	return &frontFixture{fake: fake, svc: svc, srv: srv, front: front, router: router, audit: audit}
}

func sign(req *http.Request, body string, ts time.Time) {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:%s", stamp, body)
	req.Header.Set("X-Slack-Request-Timestamp", stamp)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
}

func (f *frontFixture) post(t *testing.T, path, body string, mutate func(*http.Request)) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sign(req, body, time.Now())
	if mutate != nil {
		mutate(req)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func commandBody(user, text, responseURL string) string {
	return url.Values{"command": {"/sanasend"}, "text": {text}, "user_id": {user}, "user_name": {strings.ToLower(user)},
		"channel_id": {"C0OPS"}, "response_url": {responseURL}}.Encode()
}

func clickBody(user, actionID, value, responseURL string) string {
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]any{"id": user, "name": strings.ToLower(user)},
		"channel": map[string]any{"id": "C0OPS"}, "response_url": responseURL,
		"actions": []map[string]any{{"action_id": actionID, "block_id": "b1", "value": value, "type": "button"}},
	})
	return url.Values{"payload": {string(payload)}}.Encode()
}

func (f *frontFixture) command(t *testing.T, user, text string) (responseURL string) {
	t.Helper()
	responseURL = f.fake.NewResponseURL()
	if code := f.post(t, "/slack/commands", commandBody(user, text, responseURL), nil); code != 200 {
		t.Fatalf("command %q by %s: HTTP %d", text, user, code)
	}
	return responseURL
}

func (f *frontFixture) click(t *testing.T, user, actionID, value string) (responseURL string) {
	t.Helper()
	responseURL = f.fake.NewResponseURL()
	if code := f.post(t, "/slack/interactions", clickBody(user, actionID, value, responseURL), nil); code != 200 {
		t.Fatalf("click %s by %s: HTTP %d", actionID, user, code)
	}
	return responseURL
}

func postText(m map[string]any) string {
	b, _ := json.Marshal(m)
	return string(b)
}

func tokenOf(t *testing.T, prompt map[string]any) string {
	t.Helper()
	return fakeslack.ButtonValue(t, prompt, ActionConfirm)
}

func TestRequestVerification(t *testing.T) {
	f := newFrontFixture(t)
	body := commandBody("U0ALICE", "status", f.fake.NewResponseURL())
	tests := []struct {
		name   string
		body   string
		mutate func(*http.Request)
		want   int
	}{
		{"good", body, nil, 200},
		{"bad signature", body, func(r *http.Request) { r.Header.Set("X-Slack-Signature", "v0="+strings.Repeat("0", 64)) }, 401},
		{"signature of another body", body, func(r *http.Request) { sign(r, body+"x", time.Now()) }, 401},
		{"stale timestamp", body, func(r *http.Request) { sign(r, body, time.Now().Add(-6*time.Minute)) }, 401},
		{"future timestamp", body, func(r *http.Request) { sign(r, body, time.Now().Add(6*time.Minute)) }, 401},
		{"missing signature", body, func(r *http.Request) { r.Header.Del("X-Slack-Signature") }, 401},
		{"missing timestamp", body, func(r *http.Request) { r.Header.Del("X-Slack-Request-Timestamp") }, 401},
		{"oversized body", body + "&pad=" + strings.Repeat("a", MaxBodyBytes), nil, 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, req := tc.body, tc.mutate
			if got := f.post(t, "/slack/commands", b, req); got != tc.want {
				t.Errorf("HTTP %d; want %d", got, tc.want)
			}
			if tc.want == 200 {
				return // a command body is not an interaction: that is the next test's
			}
			if got := f.post(t, "/slack/interactions", b, req); got != tc.want {
				t.Errorf("interactions: HTTP %d; want %d", got, tc.want)
			}
		})
	}
	f.front.Wait()
	// Only the good request ran anything.
	if calls := f.svc.Calls(); len(calls) != 1 || calls[0] != "status" {
		t.Errorf("calls = %v; want one status", calls)
	}
	if n := strings.Count(f.audit.String(), `"outcome":"unverified"`); n < 12 {
		t.Errorf("%d unverified audit records; want one per refused request", n)
	}
}

func TestNonStaffRefusedEverything(t *testing.T) {
	f := newFrontFixture(t)
	var urls []string
	for _, text := range []string{"status", "start", "stop", "restart", "logs 5", "ps", "sessions", "doctor", "help"} {
		urls = append(urls, f.command(t, "U0EVE", text))
	}
	prompt := f.fake.WaitResponseURLPosts(t, f.command(t, "U0ALICE", "restart"), 1, 5*time.Second)[0]
	token := tokenOf(t, prompt)
	for _, a := range []struct{ id, value string }{
		{ActionConfirm, token}, {ActionCancel, token}, {ActionRefresh, "whatsapp"}, {ActionLogs, "whatsapp"}, {ActionRestart, "whatsapp"},
	} {
		urls = append(urls, f.click(t, "U0EVE", a.id, a.value))
	}
	for _, u := range urls {
		post := f.fake.WaitResponseURLPosts(t, u, 1, 5*time.Second)[0]
		if post["response_type"] != "ephemeral" || !strings.Contains(postText(post), "staff") {
			t.Errorf("answer to eve = %s; want an ephemeral refusal", postText(post))
		}
	}
	f.front.Wait()
	if calls := f.svc.Calls(); len(calls) != 0 {
		t.Errorf("eve caused %v", calls)
	}
	if n := strings.Count(f.audit.String(), `"outcome":"refused"`); n != len(urls) {
		t.Errorf("%d refused audit records; want %d", n, len(urls))
	}
}

func TestUsergroupMemberAllowed(t *testing.T) {
	f := newFrontFixture(t)
	post := f.fake.WaitResponseURLPosts(t, f.command(t, "U0GROUPIE", "status"), 1, 5*time.Second)[0]
	if !strings.Contains(postText(post), "healthy") {
		t.Errorf("status for a group member = %s", postText(post))
	}
}

func TestConfirmByRequesterRunsOnce(t *testing.T) {
	f := newFrontFixture(t)
	prompt := f.fake.WaitResponseURLPosts(t, f.command(t, "U0ALICE", "restart"), 1, 5*time.Second)[0]
	token := tokenOf(t, prompt)

	bobURL := f.click(t, "U0BOB", ActionConfirm, token)
	if post := f.fake.WaitResponseURLPosts(t, bobURL, 1, 5*time.Second)[0]; post["response_type"] != "ephemeral" {
		t.Errorf("bob's click answered %s; want an ephemeral rejection", postText(post))
	}
	const clicks = 50
	var wg sync.WaitGroup
	urls := make([]string, clicks)
	for i := range clicks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			urls[i] = f.fake.NewResponseURL()
			f.post(t, "/slack/interactions", clickBody("U0ALICE", ActionConfirm, token, urls[i]), nil)
		}()
	}
	wg.Wait()
	f.front.Wait()
	if calls := f.svc.Calls(); len(calls) != 1 || calls[0] != "restart by U0ALICE" {
		t.Fatalf("calls = %v; want exactly one restart by alice", calls)
	}
	outcomes, rejections := 0, 0
	for _, u := range urls {
		for _, p := range f.fake.ResponseURLPosts(u) {
			switch {
			case p["response_type"] == "ephemeral":
				rejections++
			case strings.Contains(postText(p), "restart whatsapp") && !strings.Contains(postText(p), "⏳"):
				outcomes++
			}
		}
	}
	if outcomes != 1 || rejections != clicks-1 {
		t.Errorf("%d outcomes and %d rejections; want 1 and %d", outcomes, rejections, clicks-1)
	}
	notices := f.fake.WaitCalls(t, "chat.postMessage", 1, 5*time.Second)
	if notices[0].Form.Get("channel") != "C0ALERTS" || !strings.Contains(notices[0].Form.Get("text"), "restart whatsapp") {
		t.Errorf("alerts channel notice = %v", notices[0].Form)
	}
}

func TestDeadTokensRunNothing(t *testing.T) {
	f := newFrontFixture(t)
	clock, confirms := f.onFakeClock(t)

	cancelled := tokenOf(t, f.fake.WaitResponseURLPosts(t, f.command(t, "U0ALICE", "stop"), 1, 5*time.Second)[0])
	expiredURL := f.command(t, "U0ALICE", "restart")
	expired := tokenOf(t, f.fake.WaitResponseURLPosts(t, expiredURL, 1, 5*time.Second)[0])

	f.fake.WaitResponseURLPosts(t, f.click(t, "U0ALICE", ActionCancel, cancelled), 1, 5*time.Second)
	clock.Advance(time.Minute)
	f.front.ExpirePrompts(context.Background(), confirms.Expired())
	// The expired prompt was replaced: no live-looking button is left.
	closed := f.fake.WaitResponseURLPosts(t, expiredURL, 2, 5*time.Second)[1]
	if closed["replace_original"] != true || strings.Contains(postText(closed), ActionConfirm) {
		t.Errorf("expired prompt replaced by %s; want a message without buttons", postText(closed))
	}
	for name, token := range map[string]string{"cancelled": cancelled, "expired": expired, "forged": strings.Repeat("ab", 16)} {
		// A dead token's prompt is replaced by the reason: no
		// live-looking button is left.
		post := f.fake.WaitResponseURLPosts(t, f.click(t, "U0ALICE", ActionConfirm, token), 1, 5*time.Second)[0]
		if post["replace_original"] != true || strings.Contains(postText(post), ActionConfirm) || !strings.Contains(postText(post), name) {
			t.Errorf("%s token answered %s; want the prompt replaced by a reason without buttons", name, postText(post))
		}
	}
	f.front.Wait()
	if calls := f.svc.Calls(); len(calls) != 0 {
		t.Errorf("calls = %v; want none", calls)
	}
}

type allowAll struct{}

func (allowAll) Authorize(context.Context, manager.Actor, string) error { return nil }

func TestBusyServiceAnswersWhoWhatSince(t *testing.T) {
	f := newFrontFixture(t)
	f.svc.SetBusy(&manager.BusyError{Service: "whatsapp", Action: manager.ActionRestart,
		By: manager.Actor{ID: "U0BOB", Name: "bob"}, Since: time.Date(2026, 11, 28, 3, 4, 5, 0, time.Local)})
	post := f.fake.WaitResponseURLPosts(t, f.command(t, "U0ALICE", "stop"), 1, 5*time.Second)[0]
	for _, want := range []string{"restart", "bob", "03:04:05"} {
		if !strings.Contains(postText(post), want) {
			t.Errorf("busy answer %s lacks %q", postText(post), want)
		}
	}
}

// TestFloodIsShedInTheAck: past the backlog, the acknowledgement itself
// says the bot is busy; nothing runs for that command, and clicks are never
// shed.
func TestFloodIsShedInTheAck(t *testing.T) {
	f := newFrontFixture(t)
	f.front.cfg.Workers, f.front.cfg.Backlog = 1, 1
	f.front.slots, f.front.queued = make(chan struct{}, 1), make(chan struct{}, 2)
	f.svc.Hold = make(chan struct{})
	first := f.command(t, "U0ALICE", "status")  // runs, held
	second := f.command(t, "U0ALICE", "status") // waits for the worker
	body := commandBody("U0ALICE", "status", f.fake.NewResponseURL())
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/slack/commands", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sign(req, body, time.Now())
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var shed map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&shed)
	resp.Body.Close()
	if resp.StatusCode != 200 || shed["response_type"] != "ephemeral" || !strings.Contains(fmt.Sprint(shed["text"]), "nothing was done") {
		t.Errorf("third command acknowledged with %d %v; want an ephemeral busy answer", resp.StatusCode, shed)
	}
	close(f.svc.Hold)
	f.fake.WaitResponseURLPosts(t, first, 1, 5*time.Second)
	f.fake.WaitResponseURLPosts(t, second, 1, 5*time.Second)
	f.front.Wait()
	if calls := f.svc.Calls(); len(calls) != 2 {
		t.Errorf("calls = %v; want the two accepted statuses", calls)
	}
	if !strings.Contains(f.audit.String(), `"outcome":"shed"`) {
		t.Error("no audit record for the shed command")
	}
}

// TestLongLogsGoAsAFile: logs longer than a message are attached as a file,
// and the message says how many lines it shows of how many.
func TestLongLogsGoAsAFile(t *testing.T) {
	f := newFrontFixture(t)
	post := f.fake.WaitResponseURLPosts(t, f.command(t, "U0ALICE", "logs 1000"), 1, 5*time.Second)[0]
	f.front.Wait()
	uploads := f.fake.Uploads()
	if len(uploads) != 1 || uploads[0].Channel != "C0OPS" {
		t.Fatalf("uploads = %+v; want one file in the channel", uploads)
	}
	if got := strings.Count(string(uploads[0].Content), "\n") + 1; got < 1000 || !strings.Contains(string(uploads[0].Content), "line 1000 of the fake log") {
		t.Errorf("file holds %d lines; want all 1000", got)
	}
	if text := postText(post); !strings.Contains(text, "of 1000 lines") || !strings.Contains(text, "line 1000 of the fake log") {
		t.Errorf("message %s does not say what it shows of the 1000 lines", text)
	}
}
