package alerts

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
)

// Op is what an outbox Item does in Slack.
type Op string

// The outbox's operations.
const (
	// OpPost posts a new top-level message (chat.postMessage).
	OpPost Op = "post"
	// OpUpdate edits the message its Ref landed as (chat.update).
	OpUpdate Op = "update"
	// OpReply posts in the thread of its Ref's message (chat.postMessage
	// with thread_ts).
	OpReply Op = "reply"
)

// Item is one message for the Outbox to deliver. The outbox carries it as
// is: what it says is the business of whoever builds it.
type Item struct {
	// ID is unique and chosen by the caller ("incident-42",
	// "incident-42-resolved"); enqueueing a known ID again does nothing.
	ID      string `json:"id"`
	Channel string `json:"channel"`
	Op      Op     `json:"op"`
	// Ref is, for OpUpdate and OpReply, the ID of an earlier item whose
	// message is edited or replied to.
	Ref string `json:"ref,omitempty"`
	// Text is the notification and fallback text; it is required, and is
	// what is sent alone when Slack refuses the blocks.
	Text string `json:"text"`
	// Blocks is a Block Kit JSON array (json.Marshal of a slack.Blocks or
	// of its BlockSet), or nil.
	Blocks   json.RawMessage `json:"blocks,omitempty"`
	Enqueued time.Time       `json:"enqueued"`
}

// Poster is what the outbox needs of a Slack client; *slack.Client is one.
// The outbox owns the retry policy: the client must not retry by itself.
type Poster interface {
	PostMessageContext(ctx context.Context, channel string, options ...slack.MsgOption) (string, string, error)
	UpdateMessageContext(ctx context.Context, channel, timestamp string, options ...slack.MsgOption) (string, string, string, error)
}

var _ Poster = (*slack.Client)(nil)

// OutboxConfig configures an Outbox.
type OutboxConfig struct {
	// Dir holds the journal, outbox.jsonl (the bot's state dir); it is
	// created if missing. Required.
	Dir string
	// Clock times every wait; nil means the real clock.
	Clock clockwork.Clock
	// Logger gets retries (warn) and given-up items (error), by item ID,
	// channel and Slack error code.
	Logger zerolog.Logger
	// BackoffInitial and BackoffMax bound the wait between attempts after
	// a 5xx or network error: it doubles from BackoffInitial up to
	// BackoffMax, and is jittered down by up to half. Zero means 1s and
	// 5m.
	BackoffInitial, BackoffMax time.Duration
}

// DeadItem is an item Slack refused for good (channel_not_found,
// invalid_auth, msg_too_long, ...): it was logged and will not be sent.
type DeadItem struct {
	Item Item
	// Code is Slack's error code, or "http_<status>" for a 4xx answer
	// without one.
	Code string
	At   time.Time
}

const (
	outboxJournalName = "outbox.jsonl"
	// outboxCompactSize is the size past which the journal is rewritten,
	// once it has also doubled since the last rewrite.
	outboxCompactSize = 1 << 20
	// outboxRetention is how long the ts of a delivered message, and a
	// dead item, are kept after the last activity on that message or its
	// thread. An update or reply of an older message is posted as a new
	// message.
	outboxRetention = 30 * 24 * time.Hour
	// outboxAttemptTimeout bounds one HTTP call. It is wall-clock time on
	// purpose: it bounds network I/O, not a wait of the outbox's own, and a
	// fake clock must not have to be advanced through an HTTP call.
	outboxAttemptTimeout = 30 * time.Second
	// outboxShutdownGrace is how long an attempt in flight when Run's
	// context ends may still take: letting it finish, and recording it,
	// saves a duplicate post after the restart.
	outboxShutdownGrace = 5 * time.Second
)

// Journal record kinds.
const (
	outboxRecEnqueued  = "enqueued"
	outboxRecDelivered = "delivered"
	outboxRecDead      = "dead"
)

// outboxRecord is one line of the journal.
type outboxRecord struct {
	Rec string    `json:"rec"`
	At  time.Time `json:"at"`
	// Item: enqueued and dead.
	Item *Item `json:"item,omitempty"`
	// ID, Channel, TS, Thread: delivered. Channel and TS are where the
	// message landed (Slack's channel ID); Thread is the ts of its thread's
	// root when it is a reply.
	ID      string `json:"id,omitempty"`
	Channel string `json:"channel,omitempty"`
	TS      string `json:"ts,omitempty"`
	Thread  string `json:"thread_ts,omitempty"`
	// Code: dead.
	Code string `json:"error,omitempty"`
}

// Outbox delivers Slack messages and never drops one. There is one queue
// per channel, delivered strictly in order by its own goroutine: item n+1
// is not sent before item n is delivered or given up, and one channel's
// trouble never holds up another's.
//
// 5xx answers, network errors and timeouts are retried with capped,
// jittered exponential backoff; a 429 waits exactly its Retry-After. Those
// are retried for as long as Run's context lives. A permanent refusal (an
// ok:false answer such as channel_not_found, or a 4xx other than 429) is
// logged and the item recorded as dead (see Dead); before that, refused
// blocks (invalid_blocks) are retried once as text only, and an update
// whose message is gone (message_not_found) is posted as a new message.
// An update or reply whose Ref is dead or unknown is posted as a new
// top-level message.
//
// Every item is in the journal, Dir/outbox.jsonl, before Enqueue returns,
// so a restart loses nothing. Delivery is at-least-once: chat.postMessage
// has no idempotency key, so a message Slack accepted just before the
// process died, before the outbox wrote it down as delivered, is sent
// again by the next process. One Outbox, in one process, per Dir.
//
// The journal is JSON lines, appended and fsync'd on every change:
//
//	{"rec":"enqueued","at":...,"item":{"id":...,"channel":...,"op":"post","text":...,"blocks":[...],"enqueued":...}}
//	{"rec":"delivered","at":...,"id":...,"channel":"C0...","ts":"1732770000.000100","thread_ts":...}
//	{"rec":"dead","at":...,"item":{...},"error":"channel_not_found"}
//
// OpenOutbox replays it (a torn last line is ignored with a warning) and
// rewrites it atomically, as does a write once it has grown past 1 MiB:
// the delivered and dead records of the last 30 days of activity, then the
// pending items in order.
//
// Its methods are safe for concurrent use.
type Outbox struct {
	api            Poster
	clock          clockwork.Clock
	log            zerolog.Logger
	backoffInitial time.Duration
	backoffMax     time.Duration
	dir, path      string

	mu        sync.Mutex
	journal   *os.File // nil once closed
	size      int64    // bytes in the journal
	compacted int64    // its size after the last rewrite
	compactAt int64    // rewrite it past this size (outboxCompactSize; tests lower it)
	dirty     bool     // a write failed: the next one rewrites the journal from memory
	seq       uint64
	pending   map[string]*outboxEntry
	queues    map[string]*outboxQueue
	sent      map[string]outboxSent
	dead      map[string]DeadItem
	run       *outboxRun    // nil unless Run is running
	changed   chan struct{} // closed and replaced when pending changes
}

type outboxEntry struct {
	item Item
	seq  uint64 // enqueue order
}

type outboxQueue struct {
	items   []*outboxEntry
	sending bool // a goroutine is delivering items
}

// outboxSent is where a delivered item landed.
type outboxSent struct {
	channel, ts, thread string
	at                  time.Time
}

type outboxRun struct {
	ctx context.Context
	wg  sync.WaitGroup
}

// OpenOutbox opens the outbox journaled in cfg.Dir, with what an earlier
// process left queued, and rewrites the journal compactly. It does no
// network I/O: nothing is sent before Run.
func OpenOutbox(cfg OutboxConfig, api Poster) (*Outbox, error) {
	switch {
	case cfg.Dir == "":
		return nil, errors.New("open outbox: Dir is empty")
	case api == nil:
		return nil, errors.New("open outbox: no Slack client")
	case cfg.BackoffInitial < 0 || cfg.BackoffMax < 0:
		return nil, errors.New("open outbox: BackoffInitial and BackoffMax must not be negative")
	}
	o := &Outbox{
		api:            api,
		clock:          cfg.Clock,
		log:            cfg.Logger,
		backoffInitial: cmp.Or(cfg.BackoffInitial, time.Second),
		backoffMax:     cmp.Or(cfg.BackoffMax, 5*time.Minute),
		dir:            cfg.Dir,
		path:           filepath.Join(cfg.Dir, outboxJournalName),
		compactAt:      outboxCompactSize,
		pending:        make(map[string]*outboxEntry),
		queues:         make(map[string]*outboxQueue),
		sent:           make(map[string]outboxSent),
		dead:           make(map[string]DeadItem),
		changed:        make(chan struct{}),
	}
	if o.clock == nil {
		o.clock = clockwork.NewRealClock()
	}
	if o.backoffMax < o.backoffInitial {
		return nil, fmt.Errorf("open outbox: BackoffMax %v is less than BackoffInitial %v", o.backoffMax, o.backoffInitial)
	}
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return nil, fmt.Errorf("open outbox: %w", err)
	}
	data, err := os.ReadFile(o.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open outbox: %w", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.replayLocked(data)
	for _, e := range o.pendingInOrderLocked() {
		q := o.queueLocked(e.item.Channel)
		q.items = append(q.items, e)
	}
	// Rewriting at once drops what is done, and a torn last line that the
	// next append would otherwise be glued to.
	if err := o.compactLocked(); err != nil {
		return nil, fmt.Errorf("open outbox: %w", err)
	}
	if n := len(o.pending); n > 0 {
		o.log.Info().Int("pending", n).Msg("outbox: messages left queued by an earlier run will be sent")
	}
	return o, nil
}

// replayLocked rebuilds the state from the journal's content. A line that does
// not decode is skipped with a warning: a torn last line is what a crash
// mid-write leaves; anything else is damage that must not stop the bot
// from alerting.
func (o *Outbox) replayLocked(data []byte) {
	lines := bytes.Split(data, []byte("\n"))
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var rec outboxRecord
		if err := json.Unmarshal(line, &rec); err != nil || !rec.valid() {
			if i == len(lines)-1 {
				o.log.Warn().Str("journal", o.path).Int("line", i+1).Msg("outbox: torn last journal line ignored (a crash while it was written)")
			} else {
				o.log.Warn().Str("journal", o.path).Int("line", i+1).Msg("outbox: journal line that does not decode skipped")
			}
			continue
		}
		o.applyLocked(rec)
	}
}

func (r outboxRecord) valid() bool {
	switch r.Rec {
	case outboxRecEnqueued, outboxRecDead:
		return r.Item != nil && r.Item.ID != "" && r.Item.Channel != ""
	case outboxRecDelivered:
		return r.ID != "" && r.Channel != "" && r.TS != ""
	}
	return false
}

// applyLocked applies one journal record to the state, as replay does.
func (o *Outbox) applyLocked(rec outboxRecord) {
	switch rec.Rec {
	case outboxRecEnqueued:
		if !o.knownLocked(rec.Item.ID) {
			o.seq++
			o.pending[rec.Item.ID] = &outboxEntry{item: *rec.Item, seq: o.seq}
		}
	case outboxRecDelivered:
		delete(o.pending, rec.ID)
		o.sent[rec.ID] = outboxSent{channel: rec.Channel, ts: rec.TS, thread: rec.Thread, at: rec.At}
	case outboxRecDead:
		delete(o.pending, rec.Item.ID)
		o.dead[rec.Item.ID] = DeadItem{Item: *rec.Item, Code: rec.Code, At: rec.At}
	}
}

func (o *Outbox) knownLocked(id string) bool {
	_, pending := o.pending[id]
	_, sent := o.sent[id]
	_, dead := o.dead[id]
	return pending || sent || dead
}

func (o *Outbox) pendingInOrderLocked() []*outboxEntry {
	out := make([]*outboxEntry, 0, len(o.pending))
	for _, e := range o.pending {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *outboxEntry) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

func (o *Outbox) queueLocked(channel string) *outboxQueue {
	q := o.queues[channel]
	if q == nil {
		q = &outboxQueue{}
		o.queues[channel] = q
	}
	return q
}

// Enqueue queues it for delivery (in its channel, after what is queued
// there) and returns once it is in the journal, fsync'd. An ID already
// known, queued or delivered or dead, is a no-op. An empty Enqueued is set
// to now. Blocks that are not valid JSON are dropped with an error logged,
// and the text is sent: a formatting bug must not swallow an alert.
//
// When the journal cannot be written the item is still queued, in memory,
// and the error says so; enqueueing it again retries the write.
func (o *Outbox) Enqueue(it Item) error {
	if err := outboxValidate(it); err != nil {
		return fmt.Errorf("outbox: enqueue %q: %w", it.ID, err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.journal == nil {
		return fmt.Errorf("outbox: enqueue %q: outbox closed", it.ID)
	}
	if o.knownLocked(it.ID) {
		if o.dirty {
			if err := o.compactLocked(); err != nil {
				return fmt.Errorf("outbox: enqueue %q: journal: %w", it.ID, err)
			}
		}
		return nil
	}
	if it.Enqueued.IsZero() {
		it.Enqueued = o.clock.Now()
	}
	if len(it.Blocks) > 0 && !json.Valid(it.Blocks) {
		o.log.Error().Str("item", it.ID).Str("channel", it.Channel).Msg("outbox: blocks are not valid JSON; the text will be sent alone")
		it.Blocks = nil
	}
	o.seq++
	e := &outboxEntry{item: it, seq: o.seq}
	o.pending[it.ID] = e
	q := o.queueLocked(it.Channel)
	q.items = append(q.items, e)
	o.notifyLocked()
	err := o.writeLocked(outboxRecord{Rec: outboxRecEnqueued, At: o.clock.Now(), Item: &it})
	if o.run != nil && !q.sending {
		o.startLocked(it.Channel, q)
	}
	if err != nil {
		return fmt.Errorf("outbox: enqueue %q: queued in memory only: journal: %w", it.ID, err)
	}
	return nil
}

func outboxValidate(it Item) error {
	switch {
	case it.ID == "":
		return errors.New("no ID")
	case it.Channel == "":
		return errors.New("no channel")
	case it.Text == "":
		return errors.New("no text")
	}
	switch it.Op {
	case OpPost:
	case OpUpdate, OpReply:
		if it.Ref == "" || it.Ref == it.ID {
			return fmt.Errorf("op %s needs the ID of an earlier item in Ref", it.Op)
		}
	default:
		return fmt.Errorf("unknown op %q", it.Op)
	}
	return nil
}

// Run delivers until ctx is done: one goroutine per channel with something
// queued, started on demand, ended when its queue is empty. It returns when
// they all have; an attempt in flight is given a few seconds to finish.
// Run may be called again after it returns, but not concurrently.
func (o *Outbox) Run(ctx context.Context) {
	o.mu.Lock()
	if o.run != nil || o.journal == nil {
		o.mu.Unlock()
		o.log.Error().Msg("outbox: Run called while running, or after Close")
		return
	}
	r := &outboxRun{ctx: ctx}
	o.run = r
	for channel, q := range o.queues {
		if len(q.items) > 0 && !q.sending {
			o.startLocked(channel, q)
		}
	}
	o.mu.Unlock()

	<-ctx.Done()
	o.mu.Lock()
	o.run = nil
	o.mu.Unlock()
	r.wg.Wait()
}

// startLocked starts the goroutine that delivers q; Run must be running.
func (o *Outbox) startLocked(channel string, q *outboxQueue) {
	q.sending = true
	r := o.run
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		o.sendQueue(r.ctx, channel, q)
	}()
}

// sendQueue delivers q's items in order until it is empty or ctx is done.
func (o *Outbox) sendQueue(ctx context.Context, channel string, q *outboxQueue) {
	for {
		o.mu.Lock()
		if ctx.Err() != nil || len(q.items) == 0 {
			q.sending = false
			if len(q.items) == 0 && o.queues[channel] == q {
				delete(o.queues, channel)
			}
			o.mu.Unlock()
			return
		}
		e := q.items[0]
		target := o.targetLocked(e.item)
		o.mu.Unlock()

		res, done := o.deliver(ctx, e.item, target)
		if !done {
			continue // ctx is done; it stays queued for the next Run
		}
		o.mu.Lock()
		o.finishLocked(q, e, res)
		o.mu.Unlock()
	}
}

// outboxTarget is where an attempt goes: a new message in channel, an
// edit of channel/ts, or a reply in channel's thread.
type outboxTarget struct {
	op                  Op
	channel, ts, thread string
}

// targetLocked resolves the Ref of it. An update or reply whose Ref has not
// landed (dead, unknown, or forgotten) is posted as a new message.
func (o *Outbox) targetLocked(it Item) outboxTarget {
	if it.Op == OpPost {
		return outboxTarget{op: OpPost, channel: it.Channel}
	}
	s, ok := o.sent[it.Ref]
	if !ok {
		why := "unknown"
		if d, dead := o.dead[it.Ref]; dead {
			why = "dead (" + d.Code + ")"
		} else if _, pending := o.pending[it.Ref]; pending {
			why = "not delivered yet"
		}
		o.log.Warn().Str("item", it.ID).Str("channel", it.Channel).Str("ref", it.Ref).Str("ref_state", why).
			Msgf("outbox: the %s's message is not in Slack; posting it as a new message", it.Op)
		return outboxTarget{op: OpPost, channel: it.Channel}
	}
	if it.Op == OpUpdate {
		return outboxTarget{op: OpUpdate, channel: s.channel, ts: s.ts, thread: s.thread}
	}
	return outboxTarget{op: OpReply, channel: s.channel, thread: cmp.Or(s.thread, s.ts)}
}

// outboxResult is how an item ended: delivered to sent, or dead with code.
type outboxResult struct {
	sent outboxSent
	code string
}

// finishLocked records e's result and takes it off q.
func (o *Outbox) finishLocked(q *outboxQueue, e *outboxEntry, res outboxResult) {
	if len(q.items) > 0 && q.items[0] == e {
		q.items[0] = nil
		q.items = q.items[1:]
	}
	delete(o.pending, e.item.ID)
	o.notifyLocked()
	now := o.clock.Now()
	var rec outboxRecord
	if res.code != "" {
		o.dead[e.item.ID] = DeadItem{Item: e.item, Code: res.code, At: now}
		rec = outboxRecord{Rec: outboxRecDead, At: now, Item: &e.item, Code: res.code}
	} else {
		res.sent.at = now
		o.sent[e.item.ID] = res.sent
		rec = outboxRecord{Rec: outboxRecDelivered, At: now, ID: e.item.ID, Channel: res.sent.channel, TS: res.sent.ts, Thread: res.sent.thread}
	}
	if err := o.writeLocked(rec); err != nil {
		o.log.Error().Err(err).Str("item", e.item.ID).Str("channel", e.item.Channel).
			Msg("outbox: cannot journal the outcome; after a restart the item may be sent again")
	}
}

// deliver sends it until Slack takes it or refuses it for good; done is
// false when ctx ended first.
func (o *Outbox) deliver(ctx context.Context, it Item, t outboxTarget) (res outboxResult, done bool) {
	log := o.log.With().Str("item", it.ID).Str("channel", it.Channel).Str("op", string(it.Op)).Logger()
	blocks, err := outboxDecodeBlocks(it.Blocks)
	if err != nil {
		log.Error().Err(err).Msg("outbox: blocks do not decode; sending the text alone")
	}
	failures := 0
	for attempt := 1; ; attempt++ {
		channel, ts, err := o.attempt(ctx, it, t, blocks)
		if err == nil && ts == "" {
			err = errOutboxNoTS
		}
		if err == nil {
			if attempt > 1 {
				log.Info().Int("attempts", attempt).Msg("outbox: delivered after retries")
			}
			sent := outboxSent{channel: cmp.Or(channel, t.channel), ts: ts, thread: t.thread}
			if t.op == OpUpdate {
				sent.ts = cmp.Or(ts, t.ts)
			}
			return outboxResult{sent: sent}, true
		}
		if ctx.Err() != nil {
			return outboxResult{}, false
		}
		retry, code, wait := outboxClassify(err)
		if !retry {
			switch {
			case blocks != nil && (code == "invalid_blocks" || code == "invalid_blocks_format"):
				log.Warn().Str("code", code).Msg("outbox: Slack refused the blocks; retrying once with the text alone")
				blocks = nil
				continue
			case t.op == OpUpdate && outboxMessageGone(code):
				log.Warn().Str("code", code).Str("ref", it.Ref).Msg("outbox: the message to update is gone; posting it as a new message")
				t = outboxTarget{op: OpPost, channel: it.Channel}
				continue
			}
			log.Error().Str("code", code).Int("attempts", attempt).Msg("outbox: Slack refused the message for good; it will not be sent")
			return outboxResult{code: code}, true
		}
		if wait <= 0 {
			wait = o.backoff(failures)
			failures++
		}
		log.Warn().Str("code", code).Int("attempt", attempt).Dur("retry_in", wait).Msg("outbox: delivery failed; will retry")
		if !o.sleep(ctx, wait) {
			return outboxResult{}, false
		}
	}
}

// attempt makes one API call for it. The call outlives ctx by up to
// outboxShutdownGrace, so that a message Slack takes as Run stops is
// recorded as delivered rather than sent again after the restart.
func (o *Outbox) attempt(ctx context.Context, it Item, t outboxTarget, blocks []slack.Block) (channel, ts string, err error) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outboxAttemptTimeout)
	graceDone := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(graceDone)
		grace := time.NewTimer(outboxShutdownGrace)
		defer grace.Stop()
		select {
		case <-grace.C:
			cancel()
		case <-actx.Done():
		}
	})
	defer func() {
		cancel()
		if !stop() {
			<-graceDone // so that no goroutine outlives Run
		}
	}()

	opts := []slack.MsgOption{slack.MsgOptionText(it.Text, false)}
	switch {
	case blocks != nil:
		opts = append(opts, slack.MsgOptionBlocks(blocks...))
	case t.op == OpUpdate:
		// chat.update keeps the old blocks unless told otherwise, and
		// they would hide the new text.
		opts = append(opts, slack.MsgOptionBlocks())
	}
	switch t.op {
	case OpUpdate:
		channel, ts, _, err = o.api.UpdateMessageContext(actx, t.channel, t.ts, opts...)
	case OpReply:
		channel, ts, err = o.api.PostMessageContext(actx, t.channel, append(opts, slack.MsgOptionTS(t.thread))...)
	default:
		channel, ts, err = o.api.PostMessageContext(actx, t.channel, opts...)
	}
	return channel, ts, err
}

// outboxDecodeBlocks decodes an item's blocks for slack.MsgOptionBlocks;
// nil when there are none.
func outboxDecodeBlocks(raw json.RawMessage) ([]slack.Block, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	var blocks slack.Blocks
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, err
	}
	if len(blocks.BlockSet) == 0 {
		return nil, nil
	}
	return blocks.BlockSet, nil
}

// errOutboxNoTS is an ok answer without a ts, which Slack does not send;
// it is retried like a garbled answer.
var errOutboxNoTS = errors.New("slack answered ok without a ts")

// outboxTransientCodes are the ok:false answers that are worth retrying.
var outboxTransientCodes = map[string]bool{
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
	"ratelimited":         true,
	"team_added_to_org":   true,
}

// outboxClassify says whether err is worth retrying, Slack's error code for
// the logs, and, for a 429 with Retry-After, how long to wait first.
// Anything not known to be permanent is retried: the outbox must not drop
// a message on an error it does not know.
func outboxClassify(err error) (retry bool, code string, wait time.Duration) {
	var rl *slack.RateLimitedError
	var se slack.SlackErrorResponse
	var sc slack.StatusCodeError
	switch {
	case errors.As(err, &rl):
		return true, "ratelimited", rl.RetryAfter
	case errors.As(err, &se):
		return outboxTransientCodes[se.Err], se.Err, 0
	case errors.As(err, &sc):
		code := "http_" + strconv.Itoa(sc.Code)
		permanent := sc.Code >= 400 && sc.Code < 500 && sc.Code != http.StatusTooManyRequests && sc.Code != http.StatusRequestTimeout
		return !permanent, code, 0
	case errors.Is(err, errOutboxNoTS):
		return true, "no_ts", 0
	case errors.Is(err, context.DeadlineExceeded):
		return true, "timeout", 0
	default:
		return true, "network", 0
	}
}

// outboxMessageGone reports whether code says the message to update cannot
// be edited any more.
func outboxMessageGone(code string) bool {
	switch code {
	case "message_not_found", "cant_update_message", "edit_window_closed":
		return true
	}
	return false
}

// backoff is the wait after the n+1th failure in a row: BackoffInitial
// doubled n times, at most BackoffMax, less a random part of up to half.
func (o *Outbox) backoff(n int) time.Duration {
	d := o.backoffInitial
	for i := 0; i < n && d < o.backoffMax; i++ {
		d *= 2
	}
	d = min(d, o.backoffMax)
	half := d / 2
	return half + rand.N(d-half+1)
}

// sleep waits d on the clock; false if ctx ended first.
func (o *Outbox) sleep(ctx context.Context, d time.Duration) bool {
	t := o.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.Chan():
		return true
	}
}

// TS says where a delivered item landed: Slack's channel ID and the
// message's ts (for an update, the edited message). It survives restarts
// for 30 days after the last activity on the message.
func (o *Outbox) TS(id string) (channel, ts string, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, ok := o.sent[id]
	return s.channel, s.ts, ok
}

// Pending is the number of items queued and not yet delivered or given up.
func (o *Outbox) Pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending)
}

// Dead lists the items Slack refused for good, oldest first.
func (o *Outbox) Dead() []DeadItem {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.deadSortedLocked()
}

// Flush waits until nothing is pending or ctx is done. Only Run delivers:
// without it Flush waits for ctx.
func (o *Outbox) Flush(ctx context.Context) error {
	for {
		o.mu.Lock()
		n, changed := len(o.pending), o.changed
		o.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("outbox: flush: %d pending: %w", n, ctx.Err())
		}
	}
}

// Close closes the journal. Call it after Run has returned; Enqueue fails
// afterwards.
func (o *Outbox) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.journal == nil {
		return nil
	}
	err := o.journal.Close()
	o.journal = nil
	if err != nil {
		return fmt.Errorf("outbox: close: %w", err)
	}
	return nil
}

func (o *Outbox) notifyLocked() {
	close(o.changed)
	o.changed = make(chan struct{})
}

// writeLocked appends rec to the journal and fsyncs it. After a failed
// write it rewrites the journal from memory instead, which also makes
// durable what the failure left out; it rewrites it too once it has grown.
func (o *Outbox) writeLocked(rec outboxRecord) error {
	if o.journal == nil {
		return errors.New("journal closed")
	}
	if o.dirty {
		return o.compactLocked()
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("journal: encode: %w", err)
	}
	line = append(line, '\n')
	n, err := o.journal.Write(line)
	if err == nil {
		err = o.journal.Sync()
	}
	if err != nil {
		o.dirty = true
		if n > 0 {
			_ = o.journal.Truncate(o.size) // best effort; the rewrite below replaces it anyway
		}
		if cerr := o.compactLocked(); cerr != nil {
			return fmt.Errorf("journal %s: %w", o.path, errors.Join(err, cerr))
		}
		o.log.Warn().Err(err).Str("journal", o.path).Msg("outbox: journal append failed; rewrote the journal")
		return nil
	}
	o.size += int64(n)
	if o.size > o.compactAt && o.size > 2*o.compacted {
		if err := o.compactLocked(); err != nil {
			// rec is durable; the journal is only bigger than it needs be.
			o.log.Warn().Err(err).Str("journal", o.path).Msg("outbox: cannot compact the journal")
		}
	}
	return nil
}

// compactLocked rewrites the journal from memory, atomically (temporary
// file, fsync, rename): the ts of delivered messages and the dead items
// within outboxRetention, then the pending items in order.
func (o *Outbox) compactLocked() error {
	o.pruneLocked(o.clock.Now())
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	ids := make([]string, 0, len(o.sent))
	for id := range o.sent {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		return cmp.Or(o.sent[a].at.Compare(o.sent[b].at), cmp.Compare(a, b))
	})
	for _, id := range ids {
		s := o.sent[id]
		_ = enc.Encode(outboxRecord{Rec: outboxRecDelivered, At: s.at, ID: id, Channel: s.channel, TS: s.ts, Thread: s.thread})
	}
	for _, d := range o.deadSortedLocked() {
		_ = enc.Encode(outboxRecord{Rec: outboxRecDead, At: d.At, Item: &d.Item, Code: d.Code})
	}
	for _, e := range o.pendingInOrderLocked() {
		_ = enc.Encode(outboxRecord{Rec: outboxRecEnqueued, At: e.item.Enqueued, Item: &e.item})
	}

	tmp := o.path + ".tmp"
	if err := outboxWriteFile(tmp, buf.Bytes()); err != nil {
		return fmt.Errorf("compact journal: %w", err)
	}
	// Closed before the rename, which Windows refuses over an open file.
	if o.journal != nil {
		_ = o.journal.Close()
		o.journal = nil
	}
	renameErr := os.Rename(tmp, o.path)
	if renameErr == nil {
		renameErr = outboxSyncDir(o.dir)
	}
	f, err := os.OpenFile(o.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("compact journal: reopen: %w", errors.Join(renameErr, err))
	}
	o.journal = f
	if renameErr != nil {
		_ = os.Remove(tmp)
		o.dirty = true
		st, serr := f.Stat()
		if serr == nil {
			o.size = st.Size()
		}
		return fmt.Errorf("compact journal: %w", renameErr)
	}
	o.size = int64(buf.Len())
	o.compacted = o.size
	o.dirty = false
	return nil
}

func (o *Outbox) deadSortedLocked() []DeadItem {
	out := make([]DeadItem, 0, len(o.dead))
	for _, d := range o.dead {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b DeadItem) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Item.ID, b.Item.ID))
	})
	return out
}

// pruneLocked forgets the delivered messages with no activity (no
// delivery to the message or its thread) for outboxRetention, unless a
// pending item refers to them, and the dead items older than that.
func (o *Outbox) pruneLocked(now time.Time) {
	cutoff := now.Add(-outboxRetention)
	last := make(map[string]time.Time) // channel+" "+ts of a message or thread root -> last activity
	touch := func(channel, ts string, at time.Time) {
		if k := channel + " " + ts; at.After(last[k]) {
			last[k] = at
		}
	}
	for _, s := range o.sent {
		touch(s.channel, s.ts, s.at)
		if s.thread != "" {
			touch(s.channel, s.thread, s.at)
		}
	}
	refs := make(map[string]bool)
	for _, e := range o.pending {
		if e.item.Ref != "" {
			refs[e.item.Ref] = true
		}
	}
	for id, s := range o.sent {
		active := last[s.channel+" "+s.ts].After(cutoff) || (s.thread != "" && last[s.channel+" "+s.thread].After(cutoff))
		if !active && !refs[id] {
			delete(o.sent, id)
		}
	}
	for id, d := range o.dead {
		if d.At.Before(cutoff) {
			delete(o.dead, id)
		}
	}
}

// outboxWriteFile writes data to a new file at path and fsyncs it.
func outboxWriteFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
	}
	return err
}

// outboxSyncDir fsyncs dir, so that a rename in it is durable. Windows
// cannot sync a directory, and does not need to.
func outboxSyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
