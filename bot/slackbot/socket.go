package slackbot

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/sanasend/sanasend-bot/internal/human"
)

// Waits between Socket Mode connections that failed. A transient failure
// (network, 5xx) is retried from socketRetryMin, doubling to socketRetryMax;
// after Slack refused the bot's credentials (socketFatal) it waits from
// Config.FatalRetry (30 s by default), doubling to socketFatalRetryMax:
// asking again every second changes nothing and floods the log.
const (
	socketRetryMin      = time.Second
	socketRetryMax      = 30 * time.Second
	socketFatalRetryMax = 5 * time.Minute
)

// socketFatal are Slack's answers to apps.connections.open that a retry
// cannot change: the app token is wrong, revoked or of the wrong type, the
// account is gone, or the app's Socket Mode link was disabled.
var socketFatal = map[string]bool{
	"invalid_auth": true, "not_authed": true, "account_inactive": true, "token_revoked": true,
	"link_disabled": true, "not_allowed_token_type": true, "app_uninstalled": true,
}

// socketCause is the reason of a Socket Mode failure fit for a log line and
// /healthz: Slack's error code when there is one, else the error without
// its URLs. fatal is true when retrying cannot help.
func socketCause(err error) (cause string, fatal bool) {
	if code := staffSlackErrCode(err); code != "" {
		return code, socketFatal[code]
	}
	s := RedactError(err)
	return s, socketFatal[s]
}

// connState is the state of the Socket Mode connection, for /healthz and
// the metrics.
type connState struct {
	mu    sync.Mutex
	up    bool
	since time.Time // of the last change between up and down
	cause string    // why it is down; "" when up or not connected yet
	// standby: a hub of a fleet that does not lead, and so does not
	// connect (Slack sends each event to one connection); since when.
	standby      bool
	standbySince time.Time
}

func (c *connState) set(up bool, cause string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.up != up {
		c.since = now
	}
	c.up, c.cause = up, cause
}

func (c *connState) get() (up bool, since time.Time, cause string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.up, c.since, c.cause
}

// SetStandby says whether this bot is a hub of a fleet that does not lead,
// and so holds no Socket Mode connection on purpose: /healthz then answers
// 200 "standby", not 503.
func (f *Front) SetStandby(on bool) {
	f.conn.mu.Lock()
	defer f.conn.mu.Unlock()
	if f.conn.standby != on {
		f.conn.standbySince = f.now()
	}
	f.conn.standby = on
}

// SlackConnected reports whether the Socket Mode connection is up, and
// since when it is up or down (since New when it never was up). Without
// Socket Mode it reports false.
func (f *Front) SlackConnected() (connected bool, since time.Time) {
	up, since, _ := f.conn.get()
	return up, since
}

// socketRun is one RunSocketMode's link between the event loop and the
// connection loop: the event loop ends a connection attempt that Slack
// refused for good (slack-go would retry it within a second).
type socketRun struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	fatal  string // the cause that ended the attempt, "" if none
}

func (s *socketRun) start(cancel context.CancelFunc) {
	s.mu.Lock()
	s.cancel, s.fatal = cancel, ""
	s.mu.Unlock()
}

func (s *socketRun) stop(cause string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fatal == "" {
		s.fatal = cause
	}
	if s.cancel != nil {
		s.cancel()
	}
}

func (s *socketRun) fatalCause() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fatal
}

// RunSocketMode serves slash commands and button clicks over Socket Mode
// until ctx is cancelled: no public URL needed. Every envelope is
// acknowledged at once and handled by the same code as HTTP requests.
// slack-go's client reconnects when Slack asks it to; when a connection
// fails outright, RunSocketMode reconnects with capped exponential backoff.
// Every failure is logged with its cause; when Slack refuses the
// credentials (invalid_auth, link_disabled, ...) the bot says so once at
// error level and waits minutes, not seconds, between attempts. The state
// of the connection is in SlackConnected and /healthz.
func (f *Front) RunSocketMode(ctx context.Context, client *socketmode.Client) error {
	run := &socketRun{}
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		f.connectLoop(ctx, client, run)
	}()
	for {
		select {
		case <-ctx.Done():
			<-runDone
			f.conn.set(false, "stopped", f.now())
			return nil
		case evt := <-client.Events:
			f.socketEvent(client, evt, run)
		}
	}
}

// connectLoop runs the client's connections until ctx is done, waiting
// between those that failed.
func (f *Front) connectLoop(ctx context.Context, client *socketmode.Client, run *socketRun) {
	wait, fatalWait := socketRetryMin, f.cfg.FatalRetry
	lastFatal := ""
	for ctx.Err() == nil {
		began := time.Now()
		runCtx, cancel := context.WithCancel(ctx)
		run.start(cancel)
		err := client.RunContext(runCtx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		cause, fatal := run.fatalCause(), true
		if cause == "" {
			cause, fatal = socketCause(err)
		}
		f.conn.set(false, cause, f.now())
		var retry time.Duration
		switch {
		case fatal:
			retry, fatalWait = fatalWait, min(fatalWait*2, socketFatalRetryMax)
			ev := f.log.Debug()
			if cause != lastFatal {
				ev = f.log.Error()
			}
			lastFatal = cause
			ev.Str("cause", cause).Dur("retry_in", retry).
				Msg("Slack refuses the Socket Mode connection; check the app-level token and that Socket Mode is enabled for the app")
		default:
			if time.Since(began) > time.Minute {
				wait = socketRetryMin // it ran fine for a while: start over
			}
			retry, wait = wait, min(wait*2, socketRetryMax)
			f.log.Warn().Str("cause", cause).Dur("retry_in", retry).Msg("socket mode connection ended; reconnecting")
		}
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (f *Front) socketEvent(client *socketmode.Client, evt socketmode.Event, run *socketRun) {
	switch evt.Type {
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slack.SlashCommand)
		if !ok {
			f.ack(client, evt)
			return
		}
		sc := slashCommand{Command: cmd.Command, Text: commandText(cmd.Text), UserID: cmd.UserID, UserName: cmd.UserName,
			ChannelID: cmd.ChannelID, ResponseURL: cmd.ResponseURL}
		if !f.acceptCommand(sc) {
			f.log.Warn().Bool("audit", true).Str("kind", "command").Str("user_id", sc.UserID).Str("channel", sc.ChannelID).
				Str("command", capLog(sc.Text)).Str("outcome", "shed").Msg("audit")
			if evt.Request != nil {
				_ = client.Ack(*evt.Request, slack.WebhookMessage{ResponseType: slack.ResponseTypeEphemeral, Text: busyText})
			}
			return
		}
		f.ack(client, evt)
	case socketmode.EventTypeInteractive:
		f.ack(client, evt)
		cb, ok := evt.Data.(slack.InteractionCallback)
		if !ok || cb.Type != slack.InteractionTypeBlockActions {
			return
		}
		f.dispatchClick(func(ctx context.Context) { f.handleAction(ctx, cb) })
	case socketmode.EventTypeEventsAPI:
		f.ack(client, evt) // not subscribed to any; acknowledged so Slack does not retry
	case socketmode.EventTypeConnected:
		f.conn.set(true, "", f.now())
		f.log.Info().Msg("socket mode connected")
	case socketmode.EventTypeConnecting:
		if up, _, _ := f.conn.get(); up {
			f.conn.set(false, "reconnecting", f.now())
		}
	case socketmode.EventTypeConnectionError:
		f.connectionError(evt, run)
	case socketmode.EventTypeInvalidAuth:
		// slack-go sends it for a 404 from apps.connections.open, then
		// ends the run: the connection loop logs it.
		run.stop("invalid_auth (HTTP 404 from apps.connections.open)")
	}
}

// connectionError handles a failed attempt inside slack-go's own retry
// loop: logged with its cause; one that cannot succeed ends the run, so
// that the connection loop waits instead of slack-go retrying at once.
func (f *Front) connectionError(evt socketmode.Event, run *socketRun) {
	ce, _ := evt.Data.(*slack.ConnectionErrorEvent)
	if ce == nil || ce.ErrorObj == nil || errors.Is(ce.ErrorObj, context.Canceled) {
		return
	}
	cause, fatal := socketCause(ce.ErrorObj)
	f.conn.set(false, cause, f.now())
	if fatal {
		run.stop(cause)
		return
	}
	f.log.Warn().Str("cause", cause).Int("attempt", ce.Attempt).Dur("retry_in", ce.Backoff).
		Msg("socket mode connection failed")
}

func (f *Front) ack(client *socketmode.Client, evt socketmode.Event) {
	if evt.Request == nil {
		return
	}
	if err := client.Ack(*evt.Request); err != nil {
		f.log.Warn().Str("error", RedactError(err)).Msg("socket mode ack")
	}
}

// healthReport is the body of /healthz in Socket Mode.
type healthReport struct {
	Status string `json:"status"` // "ok", "down", or "standby" (a hub that does not lead)
	Slack  string `json:"slack"`  // "connected since ..." or "disconnected since ..."
	Since  string `json:"since"`  // RFC 3339, UTC
	Cause  string `json:"cause,omitempty"`
}

func (f *Front) health() (healthReport, bool) {
	f.conn.mu.Lock()
	standby, standbySince := f.conn.standby, f.conn.standbySince
	f.conn.mu.Unlock()
	up, since, cause := f.conn.get()
	now := f.now()
	if standby && !up {
		r := healthReport{Status: "standby", Since: standbySince.UTC().Format(time.RFC3339),
			Slack: "not connected: another hub of the fleet leads and holds the connection, since " + standbySince.UTC().Format(time.RFC3339)}
		if d := now.Sub(standbySince); d >= 0 {
			r.Slack += " (" + human.Duration(d) + ")"
		}
		return r, true
	}
	r := healthReport{Status: "ok", Since: since.UTC().Format(time.RFC3339),
		Slack: "connected since " + since.UTC().Format(time.RFC3339)}
	if !up {
		r.Status, r.Cause = "down", strings.TrimSpace(cause)
		r.Slack = "disconnected since " + since.UTC().Format(time.RFC3339)
	}
	if d := now.Sub(since); d >= 0 {
		r.Slack += " (" + human.Duration(d) + ")"
	}
	return r, up
}
