// Package metrics exposes the bot's Prometheus metrics on GET /metrics:
// service state, health check latency, actions, alerts, Slack API errors
// and session restorations.
//
// It is fed without changes to the packages it observes: it follows the
// manager's event stream (Observe, ObserveEvents), decorates the alerts.Service and
// alerts.Notifier given to the monitor (WatchService, Notifier), wraps the
// HTTP transport of the Slack clients (SlackTransport) and reads the alert
// outbox (SetOutbox) and the Socket Mode connection (SetSlackConnection) at
// scrape time.
//
// Every method is safe on a nil *Metrics: the decorators then return what
// they were given, so a front end without metrics (the console) needs no
// special case.
package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/delivery"
	"github.com/sanasend/sanasend-bot/manager"
)

const namespace = "sanasend"

// Label values of the fixed sets.
const (
	resultOK     = "ok"
	resultFailed = "failed"

	restorationComplete = "complete"
	restorationTimedOut = "timed_out"
	restorationFailed   = "failed"
	// restorationInterrupted: a stop or an exit came before the service
	// finished restoring; restorationLate: the follow-up of a timed-out
	// summary, when the service completed later.
	restorationInterrupted = "interrupted"
	restorationLate        = "late"
)

// states are the values of service_state's state label.
var states = []manager.State{manager.StateHealthy, manager.StateUnhealthy, manager.StateStopped}

// NoticeKinds are the values of alerts_sent_total's kind label: the
// monitor's decisions plus its restoration summaries and daily digest.
var NoticeKinds = []alerts.DecisionKind{
	alerts.DecisionOpen, alerts.DecisionUpdate, alerts.DecisionResolve, alerts.DecisionRemind,
	alerts.DecisionAnnounce, alerts.DecisionAutoRestart, alerts.DecisionGiveUp, alerts.KindRestoration, alerts.KindDigest,
}

// Outbox is what the alert gauges read of the outbox at scrape time.
// *delivery.Outbox implements it.
type Outbox interface {
	Pending() int
	Dead() []delivery.DeadItem
}

var _ Outbox = (*delivery.Outbox)(nil)

// Metrics holds the bot's collectors in a registry of its own (the global
// default registry is not used).
type Metrics struct {
	reg *prometheus.Registry

	serviceState       *prometheus.GaugeVec
	healthDuration     *prometheus.HistogramVec
	healthChecks       *prometheus.CounterVec
	actions            *prometheus.CounterVec
	exits              *prometheus.CounterVec
	alertsSent         *prometheus.CounterVec
	slackErrors        *prometheus.CounterVec
	restorations       *prometheus.CounterVec
	restorationSession *prometheus.GaugeVec

	outbox    atomic.Pointer[outboxRef]
	slackConn atomic.Pointer[slackConnRef]
	history   atomic.Pointer[historyRef]
}

type outboxRef struct{ o Outbox }

// New returns the bot's metrics, with the Go runtime and process
// collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.serviceState = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "service_state",
		Help: "Current state of the service from its last health check or action: 1 for the current state, 0 for the others."},
		[]string{"service", "state"})
	m.healthDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace,
		Name:    "health_check_duration_seconds",
		Help:    "Duration of the monitor's health checks (GET /health), failed ones included.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
		[]string{"service"})
	m.healthChecks = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "health_checks_total",
		Help: "Health checks of the monitor by result (ok, failed)."}, []string{"service", "result"})
	m.actions = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "actions_total",
		Help: "Actions (start, stop, restart) finished on a service, by outcome (ok, failed)."},
		[]string{"service", "action", "outcome"})
	m.exits = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "service_exits_total",
		Help: "Exits of processes the bot started; intended is true for a stop through the bot."},
		[]string{"service", "intended"})
	m.alertsSent = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "alerts_sent_total",
		Help: "Notices of the monitor handed to the notifier, by kind."}, []string{"kind"})
	m.slackErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "slack_api_errors_total",
		Help: `Failed Slack Web API attempts, by method and code: the "error" of an "ok": false answer, http_<status> for a non-2xx answer, transport for no answer.`},
		[]string{"method", "code"})
	m.restorations = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "restorations_total",
		Help: "Session restorations summarised after a start, by result (complete, timed_out, failed, interrupted by a stop or exit, late: completed after a timed-out summary)."},
		[]string{"service", "result"})
	m.restorationSession = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "restoration_sessions",
		Help: "Sessions of the last restoration summary, by result (restored, failed, qr)."},
		[]string{"service", "result"})
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "alerts_queued",
		Help: "Slack messages in the alert outbox not yet delivered."}, func() float64 {
		if r := m.outbox.Load(); r != nil {
			return float64(r.o.Pending())
		}
		return 0
	})
	dead := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "alerts_dead",
		Help: "Slack messages of the alert outbox that Slack refused for good."}, func() float64 {
		if r := m.outbox.Load(); r != nil {
			return float64(len(r.o.Dead()))
		}
		return 0
	})
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.serviceState, m.healthDuration, m.healthChecks, m.actions, m.exits, m.alertsSent,
		m.slackErrors, m.restorations, m.restorationSession, queued, dead,
		newSlackConnCollector(&m.slackConn), newHistoryCollector(&m.history),
	)
	for _, k := range NoticeKinds {
		m.alertsSent.WithLabelValues(string(k))
	}
	return m
}

// Registry returns the registry, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// SetOutbox makes alerts_queued and alerts_dead read o at scrape time;
// until then they are 0.
func (m *Metrics) SetOutbox(o Outbox) {
	if m == nil || o == nil {
		return
	}
	m.outbox.Store(&outboxRef{o: o})
}

// AddService creates the series of a service at zero, so that they show
// before anything happened to it. WatchService calls it.
func (m *Metrics) AddService(service string) {
	if m == nil {
		return
	}
	for _, s := range states {
		m.serviceState.WithLabelValues(service, string(s))
	}
	m.healthChecks.WithLabelValues(service, resultOK)
	m.healthChecks.WithLabelValues(service, resultFailed)
	m.healthDuration.WithLabelValues(service)
}

// setState makes state the current one of service.
func (m *Metrics) setState(service string, state manager.State) {
	for _, s := range states {
		v := 0.0
		if s == state {
			v = 1
		}
		m.serviceState.WithLabelValues(service, string(s)).Set(v)
	}
}

// HealthChecked records one health check of service that took d.
func (m *Metrics) HealthChecked(service string, h manager.Health, d time.Duration) {
	if m == nil {
		return
	}
	m.healthDuration.WithLabelValues(service).Observe(d.Seconds())
	result := resultOK
	if !h.OK {
		result = resultFailed
	}
	m.healthChecks.WithLabelValues(service, result).Inc()
	m.setState(service, h.State())
}

// Event records one event of the manager's stream.
func (m *Metrics) Event(e manager.Event) {
	if m == nil {
		return
	}
	switch e.Kind {
	case manager.EventActionEnded:
		outcome := resultOK
		if !e.OK {
			outcome = resultFailed
		}
		m.actions.WithLabelValues(e.Service, string(e.Action), outcome).Inc()
		// A successful action was verified by the manager: the state is
		// known now, before the next poll.
		if e.OK {
			switch e.Action {
			case manager.ActionStart, manager.ActionRestart:
				m.setState(e.Service, manager.StateHealthy)
			case manager.ActionStop:
				m.setState(e.Service, manager.StateStopped)
			}
		}
	case manager.EventExited:
		m.exits.WithLabelValues(e.Service, strconv.FormatBool(e.Intended)).Inc()
	}
}

// ObserveEvents records the events of one service until ctx is done or
// events is closed. Feed it from the service's Subscribe.
func (m *Metrics) ObserveEvents(ctx context.Context, service string, events <-chan manager.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			if e.Service == "" {
				e.Service = service
			}
			m.Event(e)
		}
	}
}

// Noticed records one notice delivered to the notifier.
func (m *Metrics) Noticed(n alerts.Notice) {
	if m == nil {
		return
	}
	m.alertsSent.WithLabelValues(string(n.Kind)).Inc()
	if n.Restoration != nil {
		m.restored(n.Service, n.Restoration)
	}
}

// restored records a restoration summary.
func (m *Metrics) restored(service string, s *alerts.RestorationSummary) {
	r := s.Result.Restoration
	result := restorationFailed
	switch {
	case r.Error != "":
	case s.Late:
		result = restorationLate
	case s.Result.Interrupted || s.Sessions.Interrupted:
		result = restorationInterrupted
	case s.Result.TimedOut:
		result = restorationTimedOut
	case s.Result.Completed:
		result = restorationComplete
	}
	m.restorations.WithLabelValues(service, result).Inc()
	m.restorationSession.WithLabelValues(service, "restored").Set(float64(r.Restored))
	m.restorationSession.WithLabelValues(service, "failed").Set(float64(r.Failed))
	m.restorationSession.WithLabelValues(service, "qr").Set(float64(len(r.NeedQR())))
}

// Notifier returns next counting the notices it accepts.
func (m *Metrics) Notifier(next alerts.Notifier) alerts.Notifier {
	if m == nil || next == nil {
		return next
	}
	return alerts.Observed(next, m.Noticed)
}

// WatchService returns s recording every health check asked through it.
func (m *Metrics) WatchService(s alerts.Service) alerts.Service {
	if m == nil || s == nil {
		return s
	}
	m.AddService(s.Name())
	return watchedService{Service: s, m: m}
}

type watchedService struct {
	alerts.Service
	m *Metrics
}

func (w watchedService) Health(ctx context.Context) manager.Health {
	start := time.Now()
	h := w.Service.Health(ctx)
	if ctx.Err() != nil {
		// Shutting down: the check says nothing about the service.
		return h
	}
	w.m.HealthChecked(w.Name(), h, time.Since(start))
	return h
}

// maxPeek caps how much of a Slack answer is read to find its "error": an
// "ok": false answer is a few dozen bytes.
const maxPeek = 16 << 10

// SlackTransport returns next (nil: http.DefaultTransport) counting failed
// Slack Web API calls in slack_api_errors_total. It reads the method from
// the URL path and, from a 2xx JSON answer, the "ok" and "error" fields of
// its first bytes, which it gives back to the caller untouched. It never
// looks at the request's headers or body (the tokens).
func (m *Metrics) SlackTransport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if m == nil {
		return next
	}
	return slackTransport{m: m, next: next}
}

type slackTransport struct {
	m    *Metrics
	next http.RoundTripper
}

func (t slackTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	method := slackMethod(req.URL.Path)
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		if req.Context().Err() == nil { // not our own cancellation
			t.m.slackErrors.WithLabelValues(method, "transport").Inc()
		}
		return resp, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		t.m.slackErrors.WithLabelValues(method, "http_"+strconv.Itoa(resp.StatusCode)).Inc()
		return resp, nil
	}
	if !strings.Contains(resp.Header.Get("Content-Type"), "json") || resp.Body == nil {
		return resp, nil
	}
	code, body := peekError(resp.Body)
	resp.Body = body
	if code != "" {
		t.m.slackErrors.WithLabelValues(method, code).Inc()
	}
	return resp, nil
}

// peekError reads up to maxPeek bytes of body and returns the error code of
// an "ok": false answer ("" for anything else) and a body that reads as the
// original did.
func peekError(body io.ReadCloser) (string, io.ReadCloser) {
	head, err := io.ReadAll(io.LimitReader(body, maxPeek))
	restored := readCloser{Reader: io.MultiReader(bytes.NewReader(head), body), Closer: body}
	if err != nil {
		// Give the caller the error where it would have met it.
		restored.Reader = io.MultiReader(bytes.NewReader(head), errReader{err})
		return "", restored
	}
	var answer struct {
		OK    *bool  `json:"ok"`
		Error string `json:"error"`
	}
	if json.Unmarshal(head, &answer) != nil || answer.OK == nil || *answer.OK {
		return "", restored
	}
	return label(answer.Error, "unknown"), restored
}

type readCloser struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// slackMethod is the Web API method of a request path ("/api/chat.postMessage").
func slackMethod(p string) string {
	return label(path.Base(p), "other")
}

// label keeps a label value bounded: Slack's method names and error codes
// are short words of letters, digits, '.' and '_'; anything else is
// replaced by fallback.
func label(s, fallback string) string {
	if s == "" || len(s) > 64 {
		return fallback
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_') {
			return fallback
		}
	}
	return s
}
