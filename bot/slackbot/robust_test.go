package slackbot

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/sanasend/sanasend-bot/internal/fakeslack"
)

// hangingResponseURL is a response URL that accepts the connection and
// never answers, until the test ends. It counts the posts it received.
func hangingResponseURL(t *testing.T) (u string, posts *atomic.Int64) {
	t.Helper()
	release := make(chan struct{})
	posts = &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() {
		close(release)
		srv.Close()
	})
	return srv.URL + "/hooks/never-answers", posts
}

// eventually waits for cond, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSlowResponseURLStarvesNothing: two commands whose response URL never
// answers hold no worker: help, ps, a restart prompt and its confirmation
// are answered at once.
func TestSlowResponseURLStarvesNothing(t *testing.T) {
	f := newFrontFixture(t)
	hang, posts := hangingResponseURL(t)
	for range 2 {
		if code := f.post(t, "/slack/commands", commandBody("U0ALICE", "status", hang), nil); code != 200 {
			t.Fatalf("status: HTTP %d", code)
		}
	}
	eventually(t, 5*time.Second, "both answers posted to the hanging URL", func() bool { return posts.Load() >= 2 })

	tests := []struct{ text, want string }{
		{"help", "restart"},
		{"ps", "whatsapp"},
		{"restart", "Yes, restart whatsapp"},
	}
	var prompt map[string]any
	for _, tc := range tests {
		got := f.fake.WaitResponseURLPosts(t, f.command(t, "U0ALICE", tc.text), 1, 5*time.Second)[0]
		if !strings.Contains(postText(got), tc.want) {
			t.Errorf("%s answered %s; want %q in it", tc.text, postText(got), tc.want)
		}
		prompt = got
	}
	clicked := f.click(t, "U0ALICE", ActionConfirm, tokenOf(t, prompt))
	f.fake.WaitResponseURLPosts(t, clicked, 1, 5*time.Second)
}

// failingPoster is the fake Slack's Web API whose file uploads fail with a
// transport error that carries a URL, as net/http's do.
type failingPoster struct {
	*slack.Client
}

const secretUploadURL = "https://files.slack.com/upload/v1/SECRETUPLOADPATH"

func (failingPoster) UploadFileContext(context.Context, slack.UploadFileParameters) (*slack.FileSummary, error) {
	return nil, &url.Error{Op: "Post", URL: secretUploadURL, Err: errors.New("connection reset by peer")}
}

// TestErrorsCarryNoURL: a response URL whose post fails at the transport
// does not reach the log, and an error shown in Slack has no URL and is
// posted with unfurling off.
func TestErrorsCarryNoURL(t *testing.T) {
	f := newFrontFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/hooks/T000/SECRETRESPONSEPATH"
	ln.Close() // connection refused from now on
	f.front.cfg.PostDeadline = 2 * time.Second
	if code := f.post(t, "/slack/commands", commandBody("U0ALICE", "help", dead), nil); code != 200 {
		t.Fatalf("help: HTTP %d", code)
	}
	eventually(t, 10*time.Second, "the failed post in the log", func() bool {
		return strings.Contains(f.audit.String(), "post to response URL")
	})

	f.front.api = failingPoster{Client: NewClient("xoxb-test", f.fake.APIURL())}
	post := f.fake.WaitResponseURLPosts(t, f.command(t, "U0ALICE", "logs 1000"), 1, 5*time.Second)[0]
	f.front.Wait()
	text := postText(post)
	if !strings.Contains(text, "could not attach the full output") {
		t.Errorf("answer %s does not say the upload failed", text)
	}
	for _, leak := range []string{"SECRETUPLOADPATH", "files.slack.com"} {
		if strings.Contains(text, leak) {
			t.Errorf("answer %s shows %q", text, leak)
		}
	}
	if post["unfurl_links"] != false || post["unfurl_media"] != false {
		t.Errorf("answer posted with unfurl_links=%v unfurl_media=%v; want false", post["unfurl_links"], post["unfurl_media"])
	}
	log := f.audit.String()
	for _, leak := range []string{"SECRETRESPONSEPATH", ln.Addr().String(), "SECRETUPLOADPATH"} {
		if strings.Contains(log, leak) {
			t.Errorf("the log holds %q:\n%s", leak, log)
		}
	}
	if !strings.Contains(log, "connection refused") {
		t.Errorf("the log lacks the cause of the failed post:\n%s", log)
	}
}

func TestRedactURLs(t *testing.T) {
	tests := []struct{ in, want string }{
		{`Post "https://hooks.slack.com/commands/T1/2/abc": EOF`, `Post "[url]": EOF`},
		{"dial wss://wss-primary.slack.com/link/?ticket=1&app=2 failed", "dial [url] failed"},
		{"see hooks.slack.com/services/T/B/X now", "see [url] now"},
		{"invalid_auth", "invalid_auth"},
		{"dial tcp 127.0.0.1:38099: connect: connection refused", "dial tcp [host]: connect: connection refused"},
		{"lookup hooks.example.com: no such host", "lookup [host]: no such host"},
		{"dial tcp6 [::1]:80: refused", "dial tcp6 [host]: refused"},
	}
	for _, tc := range tests {
		if got := RedactURLs(tc.in); got != tc.want {
			t.Errorf("RedactURLs(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// logLines are the JSON log lines with message msg.
func logLines(t *testing.T, log, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && strings.HasPrefix(m["message"].(string), msg) {
			out = append(out, m)
		}
	}
	return out
}

// TestSocketModeRefused: when Slack refuses the Socket Mode connection for
// good, the bot logs the cause once at error level, waits longer and longer
// between attempts, and /healthz says the connection is down, why and
// since when; once Slack accepts again, it connects and /healthz is 200.
func TestSocketModeRefused(t *testing.T) {
	tests := []struct {
		cause   string
		refuse  func(*fakeslack.Server)
		restore func(*fakeslack.Server)
	}{
		{"invalid_auth", func(s *fakeslack.Server) { s.SetAppToken("xapp-revoked") },
			func(s *fakeslack.Server) { s.SetAppToken(fakeslack.DefaultAppToken) }},
		{"link_disabled", func(s *fakeslack.Server) { s.RefuseSocket("link_disabled") },
			func(s *fakeslack.Server) { s.RefuseSocket("") }},
	}
	for _, tc := range tests {
		t.Run(tc.cause, func(t *testing.T) {
			f := newFrontFixture(t)
			f.front.cfg.SocketMode = true
			f.front.cfg.FatalRetry = 100 * time.Millisecond
			tc.refuse(f.fake)
			client := socketmode.New(NewClient("xoxb-test", f.fake.APIURL(), WithAppToken(fakeslack.DefaultAppToken)))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- f.front.RunSocketMode(ctx, client) }()
			t.Cleanup(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("RunSocketMode: %v", err)
				}
			})

			const msg = "Slack refuses the Socket Mode connection"
			eventually(t, 10*time.Second, "three refusals", func() bool { return len(logLines(t, f.audit.String(), msg)) >= 3 })
			lines := logLines(t, f.audit.String(), msg)
			errorsLogged := 0
			for i, l := range lines {
				if l["cause"] != tc.cause {
					t.Errorf("line %d cause = %v; want %s", i, l["cause"], tc.cause)
				}
				if l["level"] == "error" {
					errorsLogged++
				}
				if i > 0 && l["retry_in"].(float64) <= lines[i-1]["retry_in"].(float64) {
					t.Errorf("retry_in %v after %v; want a longer wait each time", l["retry_in"], lines[i-1]["retry_in"])
				}
			}
			if errorsLogged != 1 {
				t.Errorf("%d error lines for %d refusals; want 1", errorsLogged, len(lines))
			}
			if strings.Contains(f.audit.String(), `"event":"connection_error"`) {
				t.Error("a connection error logged without its cause")
			}

			code, body := getHealth(t, f)
			if code != http.StatusServiceUnavailable || body["status"] != "down" || body["cause"] != tc.cause ||
				!strings.HasPrefix(body["slack"].(string), "disconnected since ") || body["since"] == "" {
				t.Errorf("/healthz = %d %v; want 503, down, cause %s, since when", code, body, tc.cause)
			}
			if up, _ := f.front.SlackConnected(); up {
				t.Error("SlackConnected = true while refused")
			}

			tc.restore(f.fake)
			f.fake.SocketConnected(t, 10*time.Second)
			eventually(t, 5*time.Second, "/healthz 200", func() bool {
				code, body = getHealth(t, f)
				return code == http.StatusOK
			})
			if body["status"] != "ok" || !strings.HasPrefix(body["slack"].(string), "connected since ") {
				t.Errorf("/healthz = %d %v; want ok, connected since", code, body)
			}
		})
	}
}

func getHealth(t *testing.T, f *frontFixture) (int, map[string]any) {
	t.Helper()
	resp, err := f.srv.Client().Get(f.srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("/healthz body: %v", err)
	}
	return resp.StatusCode, body
}

// TestSocketModeStandby: a hub that does not lead holds no connection on
// purpose: /healthz is 200 "standby" with since when, not 503; once it
// leads and connects, "ok"; once it no longer leads, "standby" again.
func TestSocketModeStandby(t *testing.T) {
	f := newFrontFixture(t)
	f.front.cfg.SocketMode = true
	f.front.SetStandby(true)
	code, body := getHealth(t, f)
	if code != http.StatusOK || body["status"] != "standby" || !strings.HasPrefix(body["slack"].(string), "not connected: another hub of the fleet leads") {
		t.Errorf("/healthz on standby = %d %v; want 200 standby", code, body)
	}

	f.front.SetStandby(false)
	client := socketmode.New(NewClient("xoxb-test", f.fake.APIURL(), WithAppToken(fakeslack.DefaultAppToken)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.front.RunSocketMode(ctx, client) }()
	f.fake.SocketConnected(t, 10*time.Second)
	eventually(t, 5*time.Second, "/healthz ok", func() bool {
		code, body = getHealth(t, f)
		return code == http.StatusOK && body["status"] == "ok"
	})

	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunSocketMode: %v", err)
	}
	if code, body = getHealth(t, f); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz after the connection stopped, not on standby = %d %v; want 503", code, body)
	}
	f.front.SetStandby(true)
	if code, body = getHealth(t, f); code != http.StatusOK || body["status"] != "standby" {
		t.Errorf("/healthz back on standby = %d %v; want 200 standby", code, body)
	}
}
