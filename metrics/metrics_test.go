package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/delivery"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// scrape GETs the handler and returns the exposition text.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// wantLines fails unless every line is in the exposition text.
func wantLines(t *testing.T, text string, lines ...string) {
	t.Helper()
	have := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		have[l] = true
	}
	for _, l := range lines {
		if !have[l] {
			t.Errorf("missing line %q", l)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", grepSanasend(text))
	}
}

func grepSanasend(text string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "sanasend_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestRegistryHasRuntimeAndAllMetrics(t *testing.T) {
	m := New()
	text := scrape(t, m)
	for _, name := range []string{"go_goroutines", "sanasend_alerts_queued 0", "sanasend_alerts_dead 0",
		`sanasend_alerts_sent_total{kind="open"} 0`, `sanasend_alerts_sent_total{kind="restoration"} 0`,
		`sanasend_alerts_sent_total{kind="digest"} 0`} {
		if !strings.Contains(text, name) {
			t.Errorf("no %q in the metrics", name)
		}
	}
}

func TestEvents(t *testing.T) {
	m := New()
	events := make(chan manager.Event, 8)
	events <- manager.Event{Service: "whatsapp", Kind: manager.EventActionBegun, Action: manager.ActionRestart}
	events <- manager.Event{Service: "whatsapp", Kind: manager.EventProgress, Action: manager.ActionRestart, Detail: "stopping"}
	events <- manager.Event{Service: "whatsapp", Kind: manager.EventExited, Intended: true}
	events <- manager.Event{Service: "whatsapp", Kind: manager.EventActionEnded, Action: manager.ActionRestart, OK: true}
	events <- manager.Event{Service: "whatsapp", Kind: manager.EventActionEnded, Action: manager.ActionStop, OK: false}
	events <- manager.Event{Service: "whatsapp", Kind: manager.EventExited, Intended: false}
	events <- manager.Event{Service: "whatsapp", Kind: manager.EventActionEnded, Action: manager.ActionRestart, OK: true}
	close(events)
	done := make(chan struct{})
	go func() { defer close(done); m.ObserveEvents(context.Background(), "whatsapp", events) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("ObserveEvents did not return when the channel closed")
	}
	wantLines(t, scrape(t, m),
		`sanasend_actions_total{action="restart",outcome="ok",service="whatsapp"} 2`,
		`sanasend_actions_total{action="stop",outcome="failed",service="whatsapp"} 1`,
		`sanasend_service_exits_total{intended="true",service="whatsapp"} 1`,
		`sanasend_service_exits_total{intended="false",service="whatsapp"} 1`,
		`sanasend_service_state{service="whatsapp",state="healthy"} 1`,
		`sanasend_service_state{service="whatsapp",state="stopped"} 0`,
	)
}

func TestObserveEventsStopsWithContext(t *testing.T) {
	m := New()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.ObserveEvents(ctx, "whatsapp", make(chan manager.Event)) }()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("ObserveEvents did not return when ctx was done")
	}
}

// fakeService answers health checks from a list.
type fakeService struct {
	alerts.Service // nil: only Name and Health are called
	answers        []manager.Health
	calls          int
}

func (f *fakeService) Name() string { return "whatsapp" }

func (f *fakeService) Health(context.Context) manager.Health {
	h := f.answers[f.calls%len(f.answers)]
	f.calls++
	return h
}

func TestWatchServiceRecordsHealthChecks(t *testing.T) {
	m := New()
	fake := &fakeService{answers: []manager.Health{
		{OK: true}, {Reason: "HTTP 503", StatusCode: 503}, {Refused: true, Reason: "connection refused"},
	}}
	s := m.WatchService(fake)
	if s.Name() != "whatsapp" {
		t.Fatalf("name %q", s.Name())
	}
	// Before any check, the series exist at zero.
	wantLines(t, scrape(t, m),
		`sanasend_service_state{service="whatsapp",state="healthy"} 0`,
		`sanasend_health_checks_total{result="ok",service="whatsapp"} 0`,
		`sanasend_health_check_duration_seconds_count{service="whatsapp"} 0`,
	)

	if h := s.Health(context.Background()); !h.OK {
		t.Fatalf("the decorator changed the answer: %+v", h)
	}
	wantLines(t, scrape(t, m),
		`sanasend_service_state{service="whatsapp",state="healthy"} 1`,
		`sanasend_service_state{service="whatsapp",state="unhealthy"} 0`,
		`sanasend_service_state{service="whatsapp",state="stopped"} 0`,
	)
	s.Health(context.Background())
	wantLines(t, scrape(t, m),
		`sanasend_service_state{service="whatsapp",state="healthy"} 0`,
		`sanasend_service_state{service="whatsapp",state="unhealthy"} 1`,
	)
	s.Health(context.Background())
	wantLines(t, scrape(t, m),
		`sanasend_service_state{service="whatsapp",state="unhealthy"} 0`,
		`sanasend_service_state{service="whatsapp",state="stopped"} 1`,
		`sanasend_health_checks_total{result="ok",service="whatsapp"} 1`,
		`sanasend_health_checks_total{result="failed",service="whatsapp"} 2`,
		`sanasend_health_check_duration_seconds_count{service="whatsapp"} 3`,
		`sanasend_health_check_duration_seconds_bucket{service="whatsapp",le="0.001"} 3`,
		`sanasend_health_check_duration_seconds_bucket{service="whatsapp",le="10"} 3`,
	)

	// A check cut short by shutdown is not recorded.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.Health(ctx)
	wantLines(t, scrape(t, m), `sanasend_health_check_duration_seconds_count{service="whatsapp"} 3`)
}

type recordingNotifier struct {
	got []alerts.Notice
	err error
}

func (r *recordingNotifier) Notify(n alerts.Notice) error {
	if r.err != nil {
		return r.err
	}
	r.got = append(r.got, n)
	return nil
}

func TestNotifierCountsNoticesAndRestorations(t *testing.T) {
	m := New()
	next := &recordingNotifier{}
	n := m.Notifier(next)
	for _, k := range []alerts.DecisionKind{alerts.DecisionOpen, alerts.DecisionUpdate, alerts.DecisionResolve, alerts.DecisionOpen} {
		if err := n.Notify(alerts.Notice{Service: "whatsapp", Kind: k}); err != nil {
			t.Fatal(err)
		}
	}
	complete := &alerts.RestorationSummary{Result: alerts.FollowResult{Completed: true, Restoration: whatsapp.Restoration{
		Complete: true, Restored: 3, Failed: 1, Total: -1, Found: 4,
		Sessions: []whatsapp.SessionOutcome{
			{ID: "a", Result: whatsapp.SessionRestored, Connection: whatsapp.ConnectionReady},
			{ID: "b", Result: whatsapp.SessionRestored, Connection: whatsapp.ConnectionQR},
			{ID: "c", Result: whatsapp.SessionRestored},
			{ID: "d", Result: whatsapp.SessionFailed},
		}}}}
	timedOut := &alerts.RestorationSummary{Result: alerts.FollowResult{TimedOut: true}}
	failed := &alerts.RestorationSummary{Result: alerts.FollowResult{Completed: true,
		Restoration: whatsapp.Restoration{Error: "ECONNREFUSED", Total: -1}}}
	interrupted := &alerts.RestorationSummary{Result: alerts.FollowResult{Interrupted: true}}
	late := &alerts.RestorationSummary{Late: true, Result: alerts.FollowResult{Completed: true}}
	for _, s := range []*alerts.RestorationSummary{timedOut, failed, interrupted, late, complete} {
		if err := n.Notify(alerts.Notice{Service: "whatsapp", Kind: "restoration", Restoration: s}); err != nil {
			t.Fatal(err)
		}
	}
	if len(next.got) != 9 {
		t.Fatalf("next got %d notices; want 9", len(next.got))
	}
	next.err = errors.New("journal full")
	if err := n.Notify(alerts.Notice{Service: "whatsapp", Kind: alerts.DecisionRemind}); err == nil {
		t.Fatal("the error of next was lost")
	}
	wantLines(t, scrape(t, m),
		`sanasend_alerts_sent_total{kind="open"} 2`,
		`sanasend_alerts_sent_total{kind="update"} 1`,
		`sanasend_alerts_sent_total{kind="resolve"} 1`,
		`sanasend_alerts_sent_total{kind="remind"} 0`,
		`sanasend_alerts_sent_total{kind="restoration"} 5`,
		`sanasend_restorations_total{result="interrupted",service="whatsapp"} 1`,
		`sanasend_restorations_total{result="late",service="whatsapp"} 1`,
		`sanasend_restorations_total{result="complete",service="whatsapp"} 1`,
		`sanasend_restorations_total{result="timed_out",service="whatsapp"} 1`,
		`sanasend_restorations_total{result="failed",service="whatsapp"} 1`,
		`sanasend_restoration_sessions{result="restored",service="whatsapp"} 3`,
		`sanasend_restoration_sessions{result="failed",service="whatsapp"} 1`,
		`sanasend_restoration_sessions{result="qr",service="whatsapp"} 1`,
	)
}

type fakeOutbox struct {
	pending int
	dead    []delivery.DeadItem
}

func (f *fakeOutbox) Pending() int              { return f.pending }
func (f *fakeOutbox) Dead() []delivery.DeadItem { return f.dead }

func TestOutboxGaugesReadAtScrape(t *testing.T) {
	m := New()
	o := &fakeOutbox{pending: 2, dead: make([]delivery.DeadItem, 1)}
	m.SetOutbox(o)
	wantLines(t, scrape(t, m), "sanasend_alerts_queued 2", "sanasend_alerts_dead 1")
	o.pending = 0
	wantLines(t, scrape(t, m), "sanasend_alerts_queued 0")
}

// TestSlackTransport drives a real slack-go client through the transport
// against a fake Web API.
func TestSlackTransport(t *testing.T) {
	const token = "xoxb-secret-token"
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/chat.postMessage":
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_, _ = io.WriteString(w, `{"ok":false,"error":"channel_not_found"}`)
		case "/api/auth.test":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ok":true,"url":"https://x.slack.com/","team":"T","user":"bot","team_id":"T1","user_id":"U1"}`)
		case "/api/chat.update":
			w.Header().Set("Retry-After", "1")
			http.Error(w, "slow down", http.StatusTooManyRequests)
		default:
			http.Error(w, "no", http.StatusInternalServerError)
		}
	}))
	defer api.Close()
	m := New()
	client := slack.New(token, slack.OptionAPIURL(api.URL+"/api/"),
		slack.OptionHTTPClient(&http.Client{Transport: m.SlackTransport(nil)}))
	ctx := context.Background()

	_, _, err := client.PostMessageContext(ctx, "C1", slack.MsgOptionText("hi", false))
	if err == nil || !strings.Contains(err.Error(), "channel_not_found") {
		t.Fatalf("post: %v; want channel_not_found (the body must reach slack-go intact)", err)
	}
	res, err := client.AuthTestContext(ctx)
	if err != nil || res.UserID != "U1" {
		t.Fatalf("auth.test: %+v, %v (the body must reach slack-go intact)", res, err)
	}
	if _, _, _, err := client.UpdateMessageContext(ctx, "C1", "1.2", slack.MsgOptionText("x", false)); err == nil {
		t.Fatal("update: want the 429")
	}
	text := scrape(t, m)
	wantLines(t, text,
		`sanasend_slack_api_errors_total{code="channel_not_found",method="chat.postMessage"} 1`,
		`sanasend_slack_api_errors_total{code="http_429",method="chat.update"} 1`,
	)
	if strings.Contains(text, `method="auth.test"`) {
		t.Error("a successful call was counted as an error")
	}
	if strings.Contains(text, token) {
		t.Error("the token appears in the metrics")
	}
}

func TestSlackTransportCountsTransportErrors(t *testing.T) {
	m := New()
	failing := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("connection refused") })
	req := httptest.NewRequest(http.MethodPost, "http://slack.invalid/api/conversations.info", nil)
	if _, err := m.SlackTransport(failing).RoundTrip(req); err == nil {
		t.Fatal("the error was lost")
	}
	wantLines(t, scrape(t, m), `sanasend_slack_api_errors_total{code="transport",method="conversations.info"} 1`)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestLabelBounded(t *testing.T) {
	for in, want := range map[string]string{
		"chat.postMessage":      "chat.postMessage",
		"invalid_auth":          "invalid_auth",
		"":                      "x",
		"a b":                   "x",
		strings.Repeat("a", 65): "x",
		"xoxb-1234":             "x",
	} {
		if got := label(in, "x"); got != want {
			t.Errorf("label(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestNilMetricsPassesThrough(t *testing.T) {
	var m *Metrics
	next := &recordingNotifier{}
	if m.Notifier(next) != alerts.Notifier(next) {
		t.Error("nil Metrics wrapped the notifier")
	}
	fake := &fakeService{answers: []manager.Health{{OK: true}}}
	if m.WatchService(fake) != alerts.Service(fake) {
		t.Error("nil Metrics wrapped the service")
	}
	if m.SlackTransport(nil) != http.DefaultTransport {
		t.Error("nil Metrics wrapped the transport")
	}
	m.SetOutbox(&fakeOutbox{})
	m.Event(manager.Event{Kind: manager.EventActionEnded})
	m.Noticed(alerts.Notice{Kind: alerts.DecisionOpen})
	m.HealthChecked("whatsapp", manager.Health{}, time.Millisecond)
}
