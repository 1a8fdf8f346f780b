package slackbot

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/slack-go/slack"
)

// Handler serves Slack's HTTP requests: POST /slack/commands, POST
// /slack/interactions, and GET /healthz (see serveHealth). Every
// Slack request is verified before anything is parsed; a failure gets 401
// (413 for an oversized body) and no detail, and an audit record. The
// acknowledgement never waits for the work: answers go through the
// request's response URL.
func (f *Front) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /slack/commands", f.serveCommand)
	mux.HandleFunc("POST /slack/interactions", f.serveInteraction)
	mux.HandleFunc("GET /healthz", f.serveHealth)
	return mux
}

// serveHealth answers /healthz. Over HTTP it is the bot's liveness: "ok".
// In Socket Mode the bot is only useful while its connection to Slack is
// up: 200 with "connected since ...", else 503; both with a JSON body that
// says since when, and why the connection is down.
func (f *Front) serveHealth(w http.ResponseWriter, _ *http.Request) {
	if !f.cfg.SocketMode {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
		return
	}
	report, up := f.health()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !up {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(report)
}

// verified reads and verifies a Slack request, answering the failure
// itself. It returns the parsed form, or nil when it answered.
func (f *Front) verified(w http.ResponseWriter, r *http.Request) url.Values {
	body, err := verifyRequest(r, f.cfg.SigningSecret)
	if err != nil {
		status := http.StatusUnauthorized
		if errors.Is(err, ErrBodyTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		f.log.Warn().Bool("audit", true).Str("kind", "http").Str("path", r.URL.Path).
			Str("remote", r.RemoteAddr).Str("outcome", "unverified").Str("error", err.Error()).Msg("audit")
		http.Error(w, http.StatusText(status), status)
		return nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		f.log.Warn().Bool("audit", true).Str("kind", "http").Str("path", r.URL.Path).
			Str("outcome", "malformed").Str("error", capLog(err.Error())).Msg("audit")
		http.Error(w, http.StatusText(http.StatusBadRequest), http.StatusBadRequest)
		return nil
	}
	return form
}

func (f *Front) serveCommand(w http.ResponseWriter, r *http.Request) {
	form := f.verified(w, r)
	if form == nil {
		return
	}
	sc := slashCommand{
		Command:     form.Get("command"),
		Text:        commandText(form.Get("text")),
		UserID:      form.Get("user_id"),
		UserName:    form.Get("user_name"),
		ChannelID:   form.Get("channel_id"),
		ResponseURL: form.Get("response_url"),
	}
	// Acknowledge at once with an empty 200: Slack shows nothing, and the
	// answer follows through the response URL.
	if !f.acceptCommand(sc) {
		f.log.Warn().Bool("audit", true).Str("kind", "command").Str("user_id", sc.UserID).Str("channel", sc.ChannelID).
			Str("command", capLog(sc.Text)).Str("outcome", "shed").Msg("audit")
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(slack.WebhookMessage{ResponseType: slack.ResponseTypeEphemeral, Text: busyText})
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (f *Front) serveInteraction(w http.ResponseWriter, r *http.Request) {
	form := f.verified(w, r)
	if form == nil {
		return
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		f.log.Warn().Bool("audit", true).Str("kind", "http").Str("path", r.URL.Path).
			Str("outcome", "malformed").Str("error", capLog(err.Error())).Msg("audit")
		http.Error(w, http.StatusText(http.StatusBadRequest), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
	if cb.Type != slack.InteractionTypeBlockActions {
		return
	}
	f.dispatchClick(func(ctx context.Context) { f.handleAction(ctx, cb) })
}
