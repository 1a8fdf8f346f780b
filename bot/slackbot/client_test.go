package slackbot

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

// clientTestPolicy keeps DefaultRetryPolicy's shape with tiny waits. The
// 429 wait is what the server's Retry-After says (slack-go never waits less
// than 1 s after a 429).
func clientTestPolicy() RetryPolicy {
	p := DefaultRetryPolicy()
	p.BackoffInitial, p.BackoffMax, p.BackoffJitter = time.Millisecond, 4*time.Millisecond, 0
	p.RetryAfterJitter = 0
	return p
}

// clientScript is a fake Slack answering each attempt with the next step;
// the last step repeats.
type clientScript struct {
	mu       sync.Mutex
	steps    []func(w http.ResponseWriter, r *http.Request)
	attempts int
	bodies   []string
	paths    []string
}

func (s *clientScript) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	i := min(s.attempts, len(s.steps)-1)
	s.attempts++
	s.bodies = append(s.bodies, string(body))
	s.paths = append(s.paths, r.URL.Path)
	step := s.steps[i]
	s.mu.Unlock()
	step(w, r)
}

func (s *clientScript) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

func clientStatus(code int, header ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "<html>busy</html>")
	}
}

func clientJSON(body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}
}

// clientHangUp closes the connection without an answer: a connection error.
func clientHangUp(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

const clientPostOK = `{"ok":true,"channel":"C1","ts":"1700000000.000100"}`

func newClientTestServer(t *testing.T, steps ...func(http.ResponseWriter, *http.Request)) (*clientScript, *slack.Client) {
	t.Helper()
	script := &clientScript{steps: steps}
	srv := httptest.NewServer(script)
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	api := NewClient("xoxb-test", srv.URL+"/api/", WithHTTPClient(client), WithRetryPolicy(clientTestPolicy()))
	return script, api
}

func TestClientRetries5xxThen429ThenSucceeds(t *testing.T) {
	script, api := newClientTestServer(t,
		clientStatus(http.StatusInternalServerError),
		clientStatus(http.StatusTooManyRequests, "Retry-After", "1"),
		clientJSON(clientPostOK),
	)
	began := time.Now()
	ch, ts, err := api.PostMessageContext(context.Background(), "C1", slack.MsgOptionText("hello", false))
	if err != nil {
		t.Fatalf("PostMessageContext: %v", err)
	}
	if ch != "C1" || ts == "" {
		t.Errorf("PostMessageContext = %q, %q; want C1 and a timestamp", ch, ts)
	}
	if n := script.count(); n != 3 {
		t.Errorf("attempts = %d; want 3 (500, 429, 200)", n)
	}
	if took := time.Since(began); took < time.Second {
		t.Errorf("took %s; want at least the 1 s Retry-After", took)
	}
	for i, b := range script.bodies {
		if !strings.Contains(b, "text=hello") || b != script.bodies[0] {
			t.Errorf("attempt %d body = %q; want the same request as the first (%q)", i+1, b, script.bodies[0])
		}
		if script.paths[i] != "/api/chat.postMessage" {
			t.Errorf("attempt %d path = %q; want /api/chat.postMessage", i+1, script.paths[i])
		}
	}
}

func TestClientDoesNotRetryFinalAnswers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		step  func(http.ResponseWriter, *http.Request)
		check func(error) bool
	}{
		{"400", clientStatus(http.StatusBadRequest), func(err error) bool {
			var sc slack.StatusCodeError
			return errors.As(err, &sc) && sc.Code == http.StatusBadRequest
		}},
		{"404", clientStatus(http.StatusNotFound), func(err error) bool {
			var sc slack.StatusCodeError
			return errors.As(err, &sc) && sc.Code == http.StatusNotFound
		}},
		{"invalid_auth", clientJSON(`{"ok":false,"error":"invalid_auth"}`), func(err error) bool {
			return staffSlackErrCode(err) == "invalid_auth"
		}},
		{"channel_not_found", clientJSON(`{"ok":false,"error":"channel_not_found"}`), func(err error) bool {
			return staffSlackErrCode(err) == "channel_not_found"
		}},
		{"Retry-After over the cap", clientStatus(http.StatusTooManyRequests, "Retry-After", "300"), func(err error) bool {
			var rl *slack.RateLimitedError
			return errors.As(err, &rl) && rl.RetryAfter == 5*time.Minute
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script, api := newClientTestServer(t, tc.step, clientJSON(clientPostOK))
			_, _, err := api.PostMessageContext(context.Background(), "C1", slack.MsgOptionText("hello", false))
			if !tc.check(err) {
				t.Errorf("PostMessageContext error = %v (%T); not the expected one", err, err)
			}
			if n := script.count(); n != 1 {
				t.Errorf("attempts = %d; want 1", n)
			}
		})
	}
}

func TestClientGivesUpAfterMaxRetries(t *testing.T) {
	script, api := newClientTestServer(t, clientStatus(http.StatusServiceUnavailable))
	_, _, err := api.PostMessageContext(context.Background(), "C1", slack.MsgOptionText("hello", false))
	var sc slack.StatusCodeError
	if !errors.As(err, &sc) || sc.Code != http.StatusServiceUnavailable {
		t.Errorf("PostMessageContext error = %v; want HTTP 503", err)
	}
	if n, want := script.count(), DefaultRetryPolicy().MaxRetries+1; n != want {
		t.Errorf("attempts = %d; want %d", n, want)
	}
}

func TestClientRetriesConnectionErrors(t *testing.T) {
	script, api := newClientTestServer(t, clientHangUp, clientHangUp, clientJSON(`{"ok":true,"url":"https://x.slack.com/","team":"X","user":"bot","team_id":"T1","user_id":"U1","bot_id":"B1"}`))
	resp, err := api.AuthTestContext(context.Background())
	if err != nil {
		t.Fatalf("AuthTestContext: %v", err)
	}
	if resp.TeamID != "T1" {
		t.Errorf("AuthTestContext = %+v; want team T1", resp)
	}
	if n := script.count(); n != 3 {
		t.Errorf("attempts = %d; want 3", n)
	}
}

func TestClientRetryWaitEndsWithContext(t *testing.T) {
	script, api := newClientTestServer(t, clientStatus(http.StatusTooManyRequests, "Retry-After", "60"))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("hello", false))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("PostMessageContext error = %v; want the context's deadline", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("took %s; the wait must end with the context", took)
	}
	if n := script.count(); n != 1 {
		t.Errorf("attempts = %d; want 1", n)
	}
}

func TestClientNoRetriesWhenDisabled(t *testing.T) {
	script := &clientScript{steps: []func(http.ResponseWriter, *http.Request){clientStatus(http.StatusInternalServerError)}}
	srv := httptest.NewServer(script)
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	api := NewClient("xoxb-test", srv.URL+"/", WithHTTPClient(hc), WithRetryPolicy(RetryPolicy{}))
	if _, err := api.AuthTestContext(context.Background()); err == nil {
		t.Error("AuthTestContext = nil error; want HTTP 500")
	}
	if n := script.count(); n != 1 {
		t.Errorf("attempts = %d; want 1", n)
	}
}

// clientRecorder is a RoundTripper that records URLs and answers ok.
type clientRecorder struct {
	mu   sync.Mutex
	urls []string
}

func (c *clientRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.urls = append(c.urls, r.URL.String())
	c.mu.Unlock()
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"ok":true}`)), Request: r}, nil
}

func TestClientAPIURL(t *testing.T) {
	for _, tc := range []struct {
		apiURL, want string
	}{
		{"", "https://slack.com/api/auth.test"},
		{"https://slack-gov.com/api/", "https://slack-gov.com/api/auth.test"},
		{"http://127.0.0.1:9/api", "http://127.0.0.1:9/api/auth.test"}, // the slash slack-go needs is added
	} {
		rec := &clientRecorder{}
		api := NewClient("xoxb-test", tc.apiURL, WithHTTPClient(&http.Client{Transport: rec}))
		if _, err := api.AuthTestContext(context.Background()); err != nil {
			t.Errorf("api_url %q: AuthTestContext: %v", tc.apiURL, err)
		}
		if len(rec.urls) != 1 || rec.urls[0] != tc.want {
			t.Errorf("api_url %q: requested %q; want %q", tc.apiURL, rec.urls, tc.want)
		}
	}
}

func TestClientAppToken(t *testing.T) {
	var got url.Values
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = url.Values{"auth": {r.Header.Get("Authorization")}, "path": {r.URL.Path}}
		mu.Unlock()
		clientJSON(`{"ok":true,"url":"wss://example.invalid/link"}`)(w, r)
	}))
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	api := NewClient("xoxb-test", srv.URL+"/", WithHTTPClient(hc), WithAppToken("xapp-test"))
	if _, _, err := api.StartSocketModeContext(context.Background()); err != nil {
		t.Fatalf("StartSocketModeContext: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got.Get("auth") != "Bearer xapp-test" || got.Get("path") != "/apps.connections.open" {
		t.Errorf("apps.connections.open request = %v; want the app token", got)
	}
}
