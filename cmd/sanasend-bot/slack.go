package main

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/sanasend/sanasend-bot/bot/slackbot"
	"github.com/sanasend/sanasend-bot/config"
	"github.com/sanasend/sanasend-bot/delivery"
	"github.com/sanasend/sanasend-bot/metrics"
)

// slackClients are serve's ways to Slack. None makes a network call when
// built.
type slackClients struct {
	http   slackbot.ClientOption // the HTTP client every Slack client uses, counted by the metrics
	api    *slack.Client
	staff  *slackbot.Staff
	socket *socketmode.Client // nil without an app token: HTTP mode
}

func newSlackClients(cfg *config.Config, log zerolog.Logger, met *metrics.Metrics) (*slackClients, error) {
	opt := slackbot.WithHTTPClient(&http.Client{Timeout: 30 * time.Second, Transport: met.SlackTransport(nil)})
	api := slackbot.NewClient(cfg.Slack.BotToken, cfg.Slack.APIURL, opt)
	staff, err := slackbot.NewStaff(slackbot.StaffConfig{
		Usergroups: cfg.Slack.Staff.Usergroups, Users: cfg.Slack.Staff.Users,
		AllowedChannels: cfg.Slack.AllowedChannels, Command: cfg.Slack.Command, Refresh: 5 * time.Minute,
	}, api, log, clockwork.NewRealClock())
	if err != nil {
		return nil, err
	}
	c := &slackClients{http: opt, api: api, staff: staff}
	if cfg.Slack.SocketMode() {
		c.socket = socketmode.New(slackbot.NewClient(cfg.Slack.BotToken, cfg.Slack.APIURL, slackbot.WithAppToken(cfg.Slack.AppToken), opt))
	}
	return c, nil
}

// newFront is the Slack front end over router; the outcomes of actions go
// to the alerts channel through the outbox.
func newFront(cfg *config.Config, log zerolog.Logger, router slackbot.Router, api slackbot.Poster, outbox *delivery.Outbox) (*slackbot.Front, error) {
	announcer, err := slackbot.NewAnnouncer(cfg.Slack.AlertsChannel, outbox, clockwork.NewRealClock())
	if err != nil {
		return nil, err
	}
	return slackbot.New(slackbot.Config{
		SigningSecret: cfg.Slack.SigningSecret, Command: cfg.Slack.Command,
		AlertsChannel: cfg.Slack.AlertsChannel, Logger: log, Announce: announcer.Announce,
		SocketMode: cfg.Slack.SocketMode(),
	}, router, api)
}

// listen opens the HTTP listener: Slack's requests (HTTP mode), /healthz
// (Socket Mode: for the container's health check) and /metrics.
func listen(cfg *config.Config, front *slackbot.Front, met *metrics.Metrics) (*http.Server, net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.Slack.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("listen %s: %w", cfg.Slack.Listen, err)
	}
	mux := http.NewServeMux()
	if cfg.Slack.SocketMode() {
		mux.Handle("GET /healthz", front.Handler()) // 503 while the connection is down
		met.SetSlackConnection(front)
	} else {
		mux.Handle("/", front.Handler())
	}
	mux.Handle("GET /metrics", met.Handler())
	return &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second}, ln, nil
}
