package slackbot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/manager"
)

// Router is what the front end needs of bot.Router.
type Router interface {
	Handle(ctx context.Context, req bot.Request) bot.Reply
	Confirm(ctx context.Context, req bot.Request, token string) bot.Reply
	Cancel(ctx context.Context, req bot.Request, token string) bot.Reply
}

var _ Router = (*bot.Router)(nil)

// Poster is the part of the Web API the front end uses.
type Poster interface {
	PostMessageContext(ctx context.Context, channel string, options ...slack.MsgOption) (string, string, error)
	UploadFileContext(ctx context.Context, params slack.UploadFileParameters) (*slack.FileSummary, error)
}

var _ Poster = (*slack.Client)(nil)

// Config configures the front end.
type Config struct {
	// SigningSecret verifies HTTP requests; unused in Socket Mode.
	SigningSecret string
	// Command is the slash command, "/sanasend".
	Command string
	// AlertsChannel receives the outcome of every action.
	AlertsChannel string
	// Workers bounds how many slash commands run at once; 0 means 2.
	// Commands beyond wait for a worker, up to Backlog of them; past that
	// the acknowledgement itself says the bot is busy, so a flood never
	// delays the acknowledgements nor grows memory without bound. Button
	// clicks (confirmations) never wait for a worker and are never shed.
	Workers int
	// Backlog is how many slash commands may wait for a worker; 0 means 64.
	Backlog int
	// Announce, when set, delivers the outcome notices for the alerts
	// channel (serve puts them in the alerts outbox, which never drops a
	// message); nil posts them directly.
	Announce func(Message) error
	// HTTPClient posts to response URLs; nil means a client with a 10 s
	// timeout.
	HTTPClient *http.Client
	Logger     zerolog.Logger
	Now        func() time.Time
}

// Front is the Slack front end: it turns slash commands and button clicks
// into router requests and the replies into messages.
type Front struct {
	cfg    Config
	router Router
	api    Poster
	log    zerolog.Logger
	now    func() time.Time
	client *http.Client
	slots  chan struct{}
	queued chan struct{} // one token per command accepted and not finished
	work   sync.WaitGroup

	mu      sync.Mutex
	prompts map[string]prompt // confirmation token -> its prompt
}

// prompt is a confirmation prompt that was posted: what it asks and where.
type prompt struct {
	pending bot.Pending
	resp    *responder
}

// New returns a front end. It makes no network call.
func New(cfg Config, router Router, api Poster) (*Front, error) {
	if router == nil || api == nil {
		return nil, errors.New("new slack front end: router and API client are required")
	}
	if cfg.Command == "" {
		cfg.Command = "/sanasend"
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Backlog <= 0 {
		cfg.Backlog = 64
	}
	f := &Front{cfg: cfg, router: router, api: api, log: cfg.Logger, now: cfg.Now, client: cfg.HTTPClient,
		slots: make(chan struct{}, cfg.Workers), queued: make(chan struct{}, cfg.Workers+cfg.Backlog),
		prompts: make(map[string]prompt)}
	if f.now == nil {
		f.now = time.Now
	}
	if f.client == nil {
		f.client = &http.Client{Timeout: 10 * time.Second}
	}
	return f, nil
}

// Wait blocks until every command in flight has finished: an action is
// never abandoned half-done on shutdown.
func (f *Front) Wait() { f.work.Wait() }

// slashCommand is what the front end needs of a slash command, from HTTP
// or Socket Mode.
type slashCommand struct {
	Command, Text, UserID, UserName, ChannelID, ResponseURL string
}

// busyText is the acknowledgement of a command shed under a flood.
const busyText = "⏳ The bot is answering many commands right now; nothing was done. Try again in a moment."

// dispatchCommand runs a slash command on a worker, after the
// acknowledgement. It reports false, running nothing, when the backlog is
// full. The work's context is detached from the request: it outlives it.
func (f *Front) dispatchCommand(fn func(ctx context.Context)) bool {
	select {
	case f.queued <- struct{}{}:
	default:
		return false
	}
	f.work.Add(1)
	go func() {
		defer f.work.Done()
		defer func() { <-f.queued }()
		f.slots <- struct{}{}
		defer func() { <-f.slots }()
		fn(context.Background())
	}()
	return true
}

// acceptCommand dispatches a slash command: `start`, which holds on for up
// to the start timeout, runs at once like a click; every other command
// (they answer in milliseconds, stop and restart only ask for a
// confirmation) goes to the workers.
func (f *Front) acceptCommand(sc slashCommand) bool {
	run := func(ctx context.Context) { f.handleCommand(ctx, sc) }
	if firstWord(sc.Text) == string(bot.VerbStart) {
		f.dispatchClick(run)
		return true
	}
	return f.dispatchCommand(run)
}

// dispatchClick runs a button click at once: clicks are rare, and a
// confirmation must never wait behind a flood of status commands.
func (f *Front) dispatchClick(fn func(ctx context.Context)) {
	f.work.Add(1)
	go func() {
		defer f.work.Done()
		fn(context.Background())
	}()
}

// handleCommand runs one slash command and answers through its response
// URL. Slow actions update the same message as they progress.
func (f *Front) handleCommand(ctx context.Context, sc slashCommand) {
	resp := f.newResponder(sc.ResponseURL)
	if sc.Command != f.cfg.Command {
		resp.final(ctx, Message{Text: fmt.Sprintf("This bot answers %s, not %s.", f.cfg.Command, sc.Command), Ephemeral: true})
		return
	}
	user := manager.Actor{ID: sc.UserID, Name: sc.UserName}
	req := bot.Request{User: user, Channel: sc.ChannelID, Source: "slack", Text: sc.Text}
	verb := firstWord(sc.Text)
	req.Progress = func(step string) {
		resp.progress(ctx, Progress(bot.Verb(verb), "", sc.UserID, step))
	}
	reply := f.router.Handle(ctx, req)
	f.deliver(ctx, resp, sc.ChannelID, sc.UserID, reply)
}

// deliver sends a reply where it belongs: the response URL, a file when
// logs are too long, and the alerts channel for an action's outcome.
func (f *Front) deliver(ctx context.Context, resp *responder, channel, userID string, reply bot.Reply) {
	msg := Render(reply, f.now())
	if reply.Kind == bot.KindConfirm && reply.Confirm != nil {
		f.mu.Lock()
		f.prompts[reply.Confirm.Token] = prompt{pending: *reply.Confirm, resp: resp}
		f.mu.Unlock()
	}
	if msg.Upload != nil {
		if err := f.upload(ctx, channel, msg.Upload); err != nil {
			f.log.Warn().Err(err).Str("channel", channel).Msg("upload file")
			msg = withNote(msg, fmt.Sprintf("(could not attach the full output as a file: %s; invite the bot to this channel)", apiError(err)))
		}
	}
	resp.final(ctx, msg)
	if reply.Kind == bot.KindOutcome && f.cfg.AlertsChannel != "" && channel != f.cfg.AlertsChannel {
		notice := OutcomeNotice(reply.Outcome, userID).fit()
		var err error
		if f.cfg.Announce != nil {
			err = f.cfg.Announce(notice)
		} else {
			_, _, err = f.api.PostMessageContext(ctx, f.cfg.AlertsChannel,
				slack.MsgOptionText(notice.Text, false), slack.MsgOptionBlocks(notice.Blocks...))
		}
		if err != nil {
			f.log.Error().Err(err).Str("channel", f.cfg.AlertsChannel).Msg("post outcome to the alerts channel")
		}
	}
}

func (f *Front) upload(ctx context.Context, channel string, u *Upload) error {
	_, err := f.api.UploadFileContext(ctx, slack.UploadFileParameters{
		Channel: channel, Filename: u.Filename, Title: u.Title, Content: u.Content, FileSize: len(u.Content),
	})
	return err
}

// handleAction runs one button click.
func (f *Front) handleAction(ctx context.Context, cb slack.InteractionCallback) {
	if len(cb.ActionCallback.BlockActions) == 0 {
		return
	}
	a := cb.ActionCallback.BlockActions[0]
	user := manager.Actor{ID: cb.User.ID, Name: userName(cb.User)}
	channel := cb.Channel.ID
	if channel == "" {
		channel = cb.Container.ChannelID
	}
	resp := f.newResponder(cb.ResponseURL)
	req := bot.Request{User: user, Channel: channel, Source: "slack-button"}
	switch a.ActionID {
	case ActionConfirm, ActionCancel:
		f.handleConfirmation(ctx, resp, req, a.ActionID, a.Value)
	case ActionRefresh:
		req.Text = "status " + a.Value
		resp.replace = true
		f.deliver(ctx, resp, channel, user.ID, f.router.Handle(ctx, req))
	case ActionLogs:
		req.Text = "logs " + a.Value
		f.deliver(ctx, resp, channel, user.ID, f.router.Handle(ctx, req))
	case ActionRestart:
		req.Text = "restart " + a.Value
		f.deliver(ctx, resp, channel, user.ID, f.router.Handle(ctx, req))
	case ActionAck:
		// The alert itself is edited by the monitor; the clicker gets
		// a private word.
		req.Text = "ack " + a.Value
		reply := f.router.Handle(ctx, req)
		msg := Render(reply, f.now())
		msg.Ephemeral = true
		resp.final(ctx, msg)
	default:
		f.log.Warn().Str("action_id", capLog(a.ActionID)).Msg("unknown button")
	}
}

// handleConfirmation runs (or cancels) the action behind a confirmation
// button. The prompt is replaced as the action progresses. A click on a
// token that can never be used (expired, cancelled, unknown or forged)
// replaces the prompt with the reason, so no live-looking button is left,
// also for a prompt posted before the bot restarted. Other clicks that do
// nothing are told why privately: a used token (its prompt was replaced by
// the action's progress, then its outcome, which must stay), a refusal (not
// staff, not the requester: the prompt stays live for its requester), a
// failure to record the click (the token stays usable), and any click on an
// alert's Restart button (an alert is not a prompt: its notifier edits it).
func (f *Front) handleConfirmation(ctx context.Context, resp *responder, req bot.Request, actionID, token string) {
	var reply bot.Reply
	if actionID == ActionCancel {
		reply = f.router.Cancel(ctx, req, token)
	} else {
		resp.replace = true
		req.Progress = func(step string) {
			resp.progress(ctx, Progress("", "", req.User.ID, step))
		}
		reply = f.router.Confirm(ctx, req, token)
	}
	switch reply.Kind {
	case bot.KindRejected, bot.KindRefused:
		if reply.Kind == bot.KindRejected && bot.IsDeadToken(reply.Err) && !errors.Is(reply.Err, bot.ErrTokenUsed) && !bot.IsAlertToken(token) {
			f.closePrompt(ctx, token, reply.Text, reply.Confirm, resp)
			return
		}
		private := f.newResponder(resp.url)
		private.final(ctx, Render(reply, f.now()))
		return
	case bot.KindCancelled:
		f.closePrompt(ctx, token, reply.Text, nil, resp)
		return
	}
	f.forgetPrompt(token)
	f.deliver(ctx, resp, req.Channel, req.User.ID, reply)
}

// closePrompt replaces a confirmation prompt so that no live-looking button
// remains: through via (the click's own response URL) when given, else
// through the URL the prompt was posted with (known for the prompts this
// process posted). what is the prompt's action when this process did not
// post it (nil: unknown, the reason alone replaces it).
func (f *Front) closePrompt(ctx context.Context, token, why string, what *bot.Pending, via *responder) {
	f.mu.Lock()
	p, ok := f.prompts[token]
	delete(f.prompts, token)
	f.mu.Unlock()
	resp := via
	if resp == nil {
		if !ok {
			return
		}
		resp = p.resp
	}
	if ok {
		what = &p.pending
	}
	msg := blocksShort("🔒 "+blocksEscape(why), false)
	if what != nil {
		msg = ConfirmClosed(*what, why)
	}
	resp.replace = true
	resp.final(ctx, msg)
}

func (f *Front) forgetPrompt(token string) {
	f.mu.Lock()
	delete(f.prompts, token)
	f.mu.Unlock()
}

// ExpirePrompts closes the prompts of expired confirmations. The caller
// runs it periodically.
func (f *Front) ExpirePrompts(ctx context.Context, expired []bot.Pending) {
	for _, p := range expired {
		f.closePrompt(ctx, p.Token, "expired without confirmation; nothing was done", nil, nil)
	}
}

// responder answers through a response URL. Slack accepts 5 posts per URL
// within 30 minutes: progress takes at most 3 and is throttled, so the
// final answer always has one left.
type responder struct {
	f       *Front
	url     string
	mu      sync.Mutex
	uses    int
	posted  bool // a message of ours exists: later posts replace it
	replace bool // replace the message that carried the button
	last    time.Time
}

const (
	responseURLUses     = 5
	progressPosts       = 3
	progressMinInterval = time.Second
)

func (f *Front) newResponder(url string) *responder { return &responder{f: f, url: url} }

func (r *responder) progress(ctx context.Context, m Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.uses >= progressPosts || (r.posted && time.Since(r.last) < progressMinInterval) {
		return
	}
	r.postLocked(ctx, m)
}

func (r *responder) final(ctx context.Context, m Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.uses >= responseURLUses {
		r.f.log.Error().Msg("response URL used up: final answer not delivered there")
		return
	}
	r.postLocked(ctx, m)
}

func (r *responder) postLocked(ctx context.Context, m Message) {
	if r.url == "" {
		return
	}
	m = m.fit()
	msg := &slack.WebhookMessage{Text: m.Text, ResponseType: slack.ResponseTypeInChannel,
		ReplaceOriginal: (r.posted || r.replace) && !m.Ephemeral}
	if m.Ephemeral {
		msg.ResponseType = slack.ResponseTypeEphemeral
	}
	if len(m.Blocks) > 0 {
		msg.Blocks = &slack.Blocks{BlockSet: m.Blocks}
	}
	r.uses++
	r.last = time.Now()
	if err := postWithRetry(ctx, r.f.client, r.url, msg); err != nil {
		r.f.log.Error().Err(err).Msg("post to response URL")
		return
	}
	if !m.Ephemeral {
		r.posted = true
	}
}

// postWithRetry posts to a response URL, retrying network errors and 5xx
// twice with backoff; a 4xx is final.
func postWithRetry(ctx context.Context, client *http.Client, url string, msg *slack.WebhookMessage) error {
	var err error
	for attempt, wait := 0, 250*time.Millisecond; attempt < 3; attempt, wait = attempt+1, wait*4 {
		err = slack.PostWebhookCustomHTTPContext(ctx, url, client, msg)
		var status slack.StatusCodeError
		if err == nil || (errors.As(err, &status) && status.Code < 500) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
	return err
}

func withNote(m Message, note string) Message {
	m.Upload = nil
	m.Blocks = append(m.Blocks[:len(m.Blocks):len(m.Blocks)], blocksContext(blocksEscape(note)))
	return m.fit()
}

func apiError(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return capLog(err.Error())
}

func userName(u slack.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.ID
}

func firstWord(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return "help"
	}
	return strings.ToLower(f[0])
}

// capLog bounds untrusted text before it reaches a log line.
func capLog(s string) string { return human.CutBytes(s, 200) }

// commandText is a slash command's text as the user typed it. Slack sends
// message text escaped, slash commands' included: "All text in Slack uses
// the same system of escaping" (api.slack.com/docs/formatting), so a typed
// "a&b" arrives as "a&amp;b", and "<x>" as "&lt;x&gt;". The three entities
// are decoded in one pass, so "&amp;lt;" becomes "&lt;", as typed.
func commandText(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return commandUnescaper.Replace(s)
}

var commandUnescaper = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")
