package slackbot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	// Workers bounds how many read commands (status, logs, ...) run at
	// once; 0 means 2. Commands beyond wait for a worker, up to Backlog of
	// them; past that the acknowledgement itself says the bot is busy, so a
	// flood never delays the acknowledgements nor grows memory without
	// bound. stop and restart, which only post a confirmation prompt, have
	// workers and a backlog of their own of the same sizes, so a prompt
	// never waits behind read commands. Button clicks (confirmations) and
	// start never wait for a worker and are never shed. No worker posts:
	// answers go to a poster of their own (see PostTimeout).
	Workers int
	// Backlog is how many slash commands may wait for a worker; 0 means 64.
	Backlog int
	// PostTimeout bounds one attempt to post to a response URL; 0 means 5 s.
	// PostDeadline bounds all the attempts of one post; 0 means 15 s. Posts
	// run on one goroutine per response URL, in order, never on a command's
	// worker, at most MaxPosters response URLs at once (0 means 256; past
	// that an answer is dropped and logged rather than queued without
	// bound).
	PostTimeout, PostDeadline time.Duration
	MaxPosters                int
	// SocketMode says the bot reaches Slack over Socket Mode: /healthz then
	// reports the connection (503 while it is down).
	SocketMode bool
	// FatalRetry is the first wait after Slack refused the Socket Mode
	// connection for good (invalid_auth, link_disabled, ...); it doubles
	// at each refusal, up to 5 minutes. 0 means 30 s.
	FatalRetry time.Duration
	// Announce, when set, delivers the outcome notices for the alerts
	// channel (serve puts them in the alerts outbox, which never drops a
	// message); nil posts them directly.
	Announce func(Message) error
	// HTTPClient posts to response URLs; nil means a client with a 10 s
	// timeout (each attempt is bounded by PostTimeout anyway).
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
	// promptSlots and promptQueued are the lane of stop and restart.
	promptSlots, promptQueued chan struct{}
	work                      sync.WaitGroup
	posts                     sync.WaitGroup // posters
	posters                   atomic.Int64   // posters running
	conn                      connState      // the Socket Mode connection

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
	if cfg.PostTimeout <= 0 {
		cfg.PostTimeout = 5 * time.Second
	}
	if cfg.PostDeadline <= 0 {
		cfg.PostDeadline = 15 * time.Second
	}
	if cfg.FatalRetry <= 0 {
		cfg.FatalRetry = 30 * time.Second
	}
	if cfg.MaxPosters <= 0 {
		cfg.MaxPosters = 256
	}
	f := &Front{cfg: cfg, router: router, api: api, log: cfg.Logger, now: cfg.Now, client: cfg.HTTPClient,
		slots: make(chan struct{}, cfg.Workers), queued: make(chan struct{}, cfg.Workers+cfg.Backlog),
		promptSlots: make(chan struct{}, cfg.Workers), promptQueued: make(chan struct{}, cfg.Workers+cfg.Backlog),
		prompts: make(map[string]prompt)}
	if f.now == nil {
		f.now = time.Now
	}
	f.conn.since = f.now()
	if f.client == nil {
		f.client = &http.Client{Timeout: 10 * time.Second}
	}
	return f, nil
}

// Wait blocks until every command in flight has finished and its answers
// were posted (or given up): an action is never abandoned half-done on
// shutdown.
func (f *Front) Wait() {
	f.work.Wait()
	f.posts.Wait()
}

// slashCommand is what the front end needs of a slash command, from HTTP
// or Socket Mode.
type slashCommand struct {
	Command, Text, UserID, UserName, ChannelID, ResponseURL string
}

// busyText is the acknowledgement of a command shed under a flood.
const busyText = "⏳ The bot is answering many commands right now; nothing was done. Try again in a moment."

// dispatchCommand runs a slash command on a worker of a lane (slots,
// queued), after the acknowledgement. It reports false, running nothing,
// when the lane's backlog is full. The work's context is detached from the
// request: it outlives it.
func (f *Front) dispatchCommand(slots, queued chan struct{}, fn func(ctx context.Context)) bool {
	select {
	case queued <- struct{}{}:
	default:
		return false
	}
	f.work.Add(1)
	go func() {
		defer f.work.Done()
		defer func() { <-queued }()
		slots <- struct{}{}
		defer func() { <-slots }()
		fn(context.Background())
	}()
	return true
}

// acceptCommand dispatches a slash command: `start`, which holds on for up
// to the start timeout, runs at once like a click; stop and restart, which
// only ask for a confirmation, go to a lane of their own so that a prompt
// never waits behind read commands; every other command goes to the read
// workers.
func (f *Front) acceptCommand(sc slashCommand) bool {
	run := func(ctx context.Context) { f.handleCommand(ctx, sc) }
	switch bot.Verb(firstWord(sc.Text)) {
	case bot.VerbStart:
		f.dispatchClick(run)
		return true
	case bot.VerbStop, bot.VerbRestart:
		return f.dispatchCommand(f.promptSlots, f.promptQueued, run)
	case bot.VerbSessions:
		// `sessions cleanup` asks for a confirmation, like stop.
		if slices.ContainsFunc(strings.Fields(sc.Text)[1:], func(w string) bool { return strings.EqualFold(w, "cleanup") }) {
			return f.dispatchCommand(f.promptSlots, f.promptQueued, run)
		}
	}
	return f.dispatchCommand(f.slots, f.queued, run)
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
		resp.final(Message{Text: fmt.Sprintf("This bot answers %s, not %s.", f.cfg.Command, sc.Command), Ephemeral: true})
		return
	}
	user := manager.Actor{ID: sc.UserID, Name: sc.UserName}
	req := bot.Request{User: user, Channel: sc.ChannelID, Source: "slack", Text: sc.Text}
	verb := firstWord(sc.Text)
	req.Progress = func(step string) {
		resp.progress(Progress(bot.Verb(verb), "", sc.UserID, step))
	}
	reply := f.router.Handle(ctx, req)
	f.deliver(ctx, resp, sc.ChannelID, sc.UserID, reply)
}

// deliver sends a reply where it belongs: the response URL, a file when
// logs are too long (both by the response URL's poster), and the alerts
// channel for an action's outcome.
func (f *Front) deliver(ctx context.Context, resp *responder, channel, userID string, reply bot.Reply) {
	msg := Render(reply, f.now())
	if reply.Kind == bot.KindConfirm && reply.Confirm != nil {
		f.mu.Lock()
		f.prompts[reply.Confirm.Token] = prompt{pending: *reply.Confirm, resp: resp}
		f.mu.Unlock()
	}
	resp.finalIn(channel, msg)
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
			f.log.Error().Str("error", RedactError(err)).Str("channel", f.cfg.AlertsChannel).Msg("post outcome to the alerts channel")
		}
	}
}

func (f *Front) upload(ctx context.Context, channel string, u *Upload) error {
	_, err := f.api.UploadFileContext(ctx, u.file(slack.UploadFileParameters{Channel: channel}))
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
		resp.setReplace()
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
		resp.final(msg)
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
		resp.setReplace()
		req.Progress = func(step string) {
			resp.progress(Progress("", "", req.User.ID, step))
		}
		reply = f.router.Confirm(ctx, req, token)
	}
	switch reply.Kind {
	case bot.KindRejected, bot.KindRefused:
		if reply.Kind == bot.KindRejected && bot.IsDeadToken(reply.Err) && !errors.Is(reply.Err, bot.ErrTokenUsed) && !bot.IsAlertToken(token) {
			f.closePrompt(token, reply.Text, reply.Confirm, resp)
			return
		}
		private := f.newResponder(resp.url)
		private.final(Render(reply, f.now()))
		return
	case bot.KindCancelled:
		f.closePrompt(token, reply.Text, nil, resp)
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
func (f *Front) closePrompt(token, why string, what *bot.Pending, via *responder) {
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
	resp.setReplace()
	resp.final(msg)
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
		f.closePrompt(p.Token, "expired without confirmation; nothing was done", nil, nil)
	}
}

// responder answers through a response URL. Slack accepts 5 posts per URL
// within 30 minutes: progress takes at most 3 and is throttled, so the
// final answer always has one left. progress and final never wait for the
// network: they queue the post for the URL's poster, a goroutine that
// posts them in order and ends when the queue is empty, so a response URL
// that never answers holds no command's worker.
type responder struct {
	f   *Front
	url string

	mu      sync.Mutex
	uses    int       // posts queued so far
	replace bool      // replace the message that carried the button
	last    time.Time // when the last post was queued
	queue   []post    // posts waiting for the poster, in order
	posting bool      // a poster is draining queue
	posted  bool      // a message of ours exists: later posts replace it
}

// post is one message queued for a response URL.
type post struct {
	m       Message
	replace bool   // replace the message that carried the button
	channel string // where m.Upload goes
}

const (
	responseURLUses     = 5
	progressPosts       = 3
	progressMinInterval = time.Second
	// uploadDeadline bounds a file upload before the answer that mentions
	// it is posted.
	uploadDeadline = 30 * time.Second
)

func (f *Front) newResponder(url string) *responder { return &responder{f: f, url: url} }

// setReplace makes the posts to come replace the message that carried the
// button.
func (r *responder) setReplace() {
	r.mu.Lock()
	r.replace = true
	r.mu.Unlock()
}

func (r *responder) progress(m Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.uses >= progressPosts || (r.uses > 0 && time.Since(r.last) < progressMinInterval) {
		return
	}
	r.queueLocked(post{m: m})
}

func (r *responder) final(m Message) { r.finalIn("", m) }

// finalIn queues the final answer; its Upload, if any, goes to channel
// first (without a channel it is dropped).
func (r *responder) finalIn(channel string, m Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.uses >= responseURLUses {
		r.f.log.Error().Msg("response URL used up: final answer not delivered there")
		return
	}
	r.queueLocked(post{m: m, channel: channel})
}

func (r *responder) queueLocked(p post) {
	if r.url == "" {
		return
	}
	r.uses++
	r.last = time.Now()
	p.replace = r.replace
	r.queue = append(r.queue, p)
	if r.posting {
		return
	}
	if r.f.posters.Add(1) > int64(r.f.cfg.MaxPosters) {
		r.f.posters.Add(-1)
		r.queue = nil
		r.f.log.Error().Int("max_posters", r.f.cfg.MaxPosters).Msg("too many response URLs posting at once: answer dropped")
		return
	}
	r.posting = true
	r.f.posts.Add(1)
	go r.drain()
}

// drain posts the queue in order until it is empty.
func (r *responder) drain() {
	defer r.f.posts.Done()
	defer r.f.posters.Add(-1)
	for {
		r.mu.Lock()
		if len(r.queue) == 0 {
			r.posting = false
			r.mu.Unlock()
			return
		}
		p := r.queue[0]
		r.queue = r.queue[1:]
		replace := (r.posted || p.replace) && !p.m.Ephemeral
		r.mu.Unlock()
		if r.send(p, replace) && !p.m.Ephemeral {
			r.mu.Lock()
			r.posted = true
			r.mu.Unlock()
		}
	}
}

// send uploads p's file, if any, then posts p's message within
// PostDeadline. It reports whether the post was accepted.
func (r *responder) send(p post, replace bool) bool {
	m := p.m
	if m.Upload != nil {
		if p.channel != "" {
			ctx, cancel := context.WithTimeout(context.Background(), uploadDeadline)
			err := r.f.upload(ctx, p.channel, m.Upload)
			cancel()
			if err != nil {
				r.f.log.Warn().Str("error", RedactError(err)).Str("channel", p.channel).Msg("upload file")
				m = withNote(m, fmt.Sprintf("(could not attach the full output as a file: %s; invite the bot to this channel)", apiError(err)))
			}
		}
		m.Upload = nil
	}
	m = m.fit()
	no := false
	msg := &slack.WebhookMessage{Text: m.Text, ResponseType: slack.ResponseTypeInChannel, ReplaceOriginal: replace,
		UnfurlLinks: &no, UnfurlMedia: &no}
	if m.Ephemeral {
		msg.ResponseType = slack.ResponseTypeEphemeral
	}
	if len(m.Blocks) > 0 {
		msg.Blocks = &slack.Blocks{BlockSet: m.Blocks}
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.f.cfg.PostDeadline)
	defer cancel()
	if err := postWithRetry(ctx, r.f.client, r.f.cfg.PostTimeout, r.url, msg); err != nil {
		r.f.log.Error().Str("error", RedactError(err)).Msg("post to response URL")
		return false
	}
	return true
}

// postWithRetry posts to a response URL, each attempt within timeout,
// retrying network errors and 5xx twice with backoff until ctx ends; a 4xx
// is final.
func postWithRetry(ctx context.Context, client *http.Client, timeout time.Duration, url string, msg *slack.WebhookMessage) error {
	var err error
	for attempt, wait := 0, 250*time.Millisecond; attempt < 3; attempt, wait = attempt+1, wait*4 {
		actx, cancel := context.WithTimeout(ctx, timeout)
		err = slack.PostWebhookCustomHTTPContext(actx, url, client, msg)
		cancel()
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

// apiError is the part of a Slack error fit for a message: Slack's error
// code, else the error without its URLs. The caller escapes it.
func apiError(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return RedactError(err)
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
