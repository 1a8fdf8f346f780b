package main

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/bot/console"
	"github.com/sanasend/sanasend-bot/bot/mailbot"
	"github.com/sanasend/sanasend-bot/bot/slackbot"
	"github.com/sanasend/sanasend-bot/chart"
	"github.com/sanasend/sanasend-bot/config"
	"github.com/sanasend/sanasend-bot/delivery"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/metrics"
	"github.com/sanasend/sanasend-bot/recorder"
)

// newMonitor builds the health monitor of every service, delivering to n.
// With met (nil: none), its health checks and notices are counted; with rec
// (nil: none), kept in the history; store keeps its alert state.
func newMonitor(cfg *config.Config, m *manager.Manager, n alerts.Notifier, log zerolog.Logger, met *metrics.Metrics, rec *recorder.Recorder, store alertStore) (*alerts.Monitor, error) {
	var services []alerts.Service
	for _, s := range m.Services() {
		services = append(services, met.WatchService(rec.WatchService(s)))
	}
	var checks alerts.CheckRecorder
	if rec != nil {
		checks = rec
	}
	// The digests read the history (they survive a restart) when there is one.
	var digests alerts.DigestSource
	var reports alerts.ReportSource
	if d := rec.Digests(); d != nil {
		digests, reports = d, d
	}
	return alerts.NewMonitor(alerts.MonitorConfig{
		Interval: cfg.Monitor.Interval,
		Rules: alerts.Rules{
			FailureThreshold: cfg.Monitor.FailureThreshold, SuccessThreshold: cfg.Monitor.SuccessThreshold,
			RepeatInterval: cfg.Monitor.RepeatInterval, AutoRestart: cfg.Monitor.AutoRestart,
			AutoRestartMax: cfg.Monitor.AutoRestartMax,
		},
		RestorationTimeout: cfg.Monitor.RestorationTimeout,
		Clock:              clockwork.NewRealClock(),
		Logger:             log,
		DigestAt:           cfg.Monitor.DigestAt,
		DigestSource:       digests,
		WeeklyDigestAt:     cfg.Monitor.WeeklyDigestAt,
		Reports:            reports,
		Store:              store,
		Windows:            maintenanceWindows(cfg.Maintenance),
		WindowStore:        store,
		Checks:             checks,
		MemoryLimit:        uint64(cfg.Monitor.MemoryLimit),
		SessionMemoryLimit: uint64(cfg.Monitor.SessionMemoryLimit),
	}, services, met.Notifier(rec.Notifier(n)))
}

// maintenanceWindows are the config's recurring maintenance windows, as
// the monitor takes them (it names them c1, c2... in this order).
func maintenanceWindows(ms []config.Maintenance) []alerts.RecurringWindow {
	var ws []alerts.RecurringWindow
	for _, m := range ms {
		ws = append(ws, alerts.RecurringWindow{Every: m.Every, Duration: m.Duration, Reason: m.Reason,
			Services: m.Services, Restart: m.Restart})
	}
	return ws
}

// slackAlerts is the Slack side of the monitor: the outbox (durable, in the
// state dir, with its own retry policy: the client does not retry; in a
// fleet, sharing where its messages landed with the other hubs through
// shared, nil on one host) and the notifier that fills it. opts add to the
// options of its Slack client.
func slackAlerts(cfg *config.Config, m *manager.Manager, tokens slackbot.TokenIssuer, shared delivery.SharedRefs, log zerolog.Logger, opts ...slackbot.ClientOption) (*delivery.Outbox, *slackbot.AlertNotifier, error) {
	opts = append([]slackbot.ClientOption{slackbot.WithRetryPolicy(slackbot.RetryPolicy{})}, opts...)
	sender, err := slackbot.NewSender(slackbot.NewClient(cfg.Slack.BotToken, cfg.Slack.APIURL, opts...), log)
	if err != nil {
		return nil, nil, err
	}
	outbox, err := delivery.Open(delivery.Config{Dir: cfg.StateDir, Logger: log, Shared: shared}, sender)
	if err != nil {
		return nil, nil, err
	}
	tail := lastErrorLines(m, log)
	if cfg.Fleet.Enabled() {
		// A fleet's notices name their service "host/service": this hub
		// reads the log of its own host's services only.
		own, local := cfg.Fleet.Host+"/", tail
		tail = func(service string) []string {
			if name, ok := strings.CutPrefix(service, own); ok {
				return local(name)
			}
			return nil
		}
	}
	n, err := slackbot.NewAlertNotifier(slackbot.AlertNotifierConfig{Channel: cfg.Slack.AlertsChannel, Queue: outbox,
		Clock: clockwork.NewRealClock(), Tokens: tokens, Tail: tail, Logger: log, Charts: chart.Renderer{}})
	if err != nil {
		return nil, nil, errors.Join(err, outbox.Close())
	}
	return outbox, n, nil
}

// errorLinesTimeout bounds the read of a service's last error lines for an
// alert: a slow disk delays no alert.
const errorLinesTimeout = 2 * time.Second

// lastErrorLines returns the last error lines of a service's log, for an
// alert; none when they cannot be read in time (logged).
func lastErrorLines(m *manager.Manager, log zerolog.Logger) slackbot.LogTail {
	return func(service string) []string {
		s, err := m.Lookup(service)
		if err != nil {
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), errorLinesTimeout)
		defer cancel()
		lines, err := s.LastErrorLines(ctx, 5)
		if err != nil {
			log.Warn().Err(err).Msg("alert without error lines")
		}
		return lines
	}
}

// consoleAlerts prints the monitor's notices inline in the console.
func consoleAlerts(out io.Writer) (*console.AlertNotifier, error) {
	return console.NewAlertNotifier(out, clockwork.NewRealClock())
}

// emailAlerts opens the email notifier and its outbox when notify.email is
// set; nil otherwise. Nothing is sent before its outbox serves.
func emailAlerts(cfg *config.Config, m *manager.Manager, log zerolog.Logger) (*mailbot.Mail, error) {
	if !cfg.Notify.Email.Enabled() {
		return nil, nil
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return mailbot.Open(mailbot.Config{Email: cfg.Notify.Email, StateDir: cfg.StateDir, Host: host, Logger: log,
		Tail: mailbot.LogTail(lastErrorLines(m, log)), Charts: chart.Renderer{}})
}

// deadLetters are the dead letters of every outbox (Slack, email), for
// status.
type deadLetters []bot.DeadLetters

func (d deadLetters) Dead() []delivery.DeadItem {
	var out []delivery.DeadItem
	for _, x := range d {
		out = append(out, x.Dead()...)
	}
	return out
}
