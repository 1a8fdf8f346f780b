package delivery

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/internal/statefile"
)

// Op is what an Item does.
type Op string

// The outbox's operations.
const (
	// OpPost posts a new message in the item's Channel.
	OpPost Op = "post"
	// OpReply posts in the thread of the message its Ref posted.
	OpReply Op = "reply"
	// OpUpdate edits the message its Ref posted.
	OpUpdate Op = "update"
	// OpFile uploads a file into the thread of the message its Ref posted,
	// or into the Channel when Ref is "".
	OpFile Op = "file"
)

// Item is one message for the Outbox to deliver. The outbox carries it as
// is: what it says is the business of whoever builds it and of the Sender.
type Item struct {
	// ID is unique and chosen by the caller ("incident-42",
	// "incident-42-resolved"); enqueueing a known ID again does nothing
	// (it is logged).
	ID      string `json:"id"`
	Channel string `json:"channel"`
	Op      Op     `json:"op"`
	// Ref is, for OpUpdate and OpReply (and OpFile, optionally), the ID of
	// an earlier item whose message is edited or replied to.
	Ref string `json:"ref,omitempty"`
	// Payload is the message, in the Sender's encoding: opaque to the
	// outbox, which only checks that it is JSON. Required.
	Payload  json.RawMessage `json:"payload"`
	Enqueued time.Time       `json:"enqueued"`
	// EditOnly, for an OpUpdate, drops the item (logged) where its
	// message is not in the chat (never landed here, dead, forgotten or
	// gone) instead of posting it as a new message: for an edit that a
	// reply beside it already says (an incident's resolution), so that a
	// thread whose root another bot posted does not get it twice.
	EditOnly bool `json:"edit_only,omitempty"`
}

// Target is where the outbox sends an item, its Ref resolved: a new
// message in Channel (OpPost), an edit of the message Channel/TS
// (OpUpdate), a reply in the thread Channel/Thread (OpReply), or a file in
// Channel, in the thread Thread when it is not "" (OpFile). An update or
// reply whose Ref has no message in the chat is sent as OpPost.
type Target struct {
	Op      Op
	Channel string
	// TS is the message to edit (OpUpdate).
	TS string
	// Thread is the ts of the thread's root (OpReply, OpFile; and
	// OpUpdate, when the message edited is itself a reply).
	Thread string
}

// Sender hands one item to the chat. The outbox owns the retry policy:
// the Sender makes one attempt and must not retry by itself (it may fall
// back within the attempt, such as sending a message's text alone when its
// formatting is refused).
//
// Send returns the channel ID and ts of the message the chat made (for
// OpUpdate, the edited message; for OpFile, any message ts of the share,
// or "" then the outbox records to.Thread or a placeholder), or an error:
// RetryAfter (wait then retry), Retry (retry with backoff), Permanent
// (give up: a dead letter with its code) or RefGone (the message to edit
// is gone: post it as a new one). Any other error is retried with backoff:
// the outbox must not drop a message on an error nobody classified.
type Sender interface {
	Send(ctx context.Context, it Item, to Target) (channel, ts string, err error)
}

// Config configures an Outbox.
type Config struct {
	// Dir holds the journal, outbox.jsonl (the bot's state dir); it is
	// created if missing. Required.
	Dir string
	// Clock times every wait; nil means the real clock.
	Clock clockwork.Clock
	// Logger gets retries (warn), de-duplicated and re-routed items
	// (info, warn) and dead letters (error), by item ID, channel and
	// error code.
	Logger zerolog.Logger
	// BackoffInitial and BackoffMax bound the wait between attempts after
	// a retryable error: it doubles from BackoffInitial up to BackoffMax,
	// and is jittered down by up to half. Zero means 1s and 5m.
	BackoffInitial, BackoffMax time.Duration
	// Shared, when set, is where the outboxes of one chat (the hubs of a
	// fleet, one sending at a time) tell each other where their items
	// landed: each delivery is shared; an item another outbox delivered
	// already is recorded, not sent again; and a Ref this outbox does not
	// know is looked up there before the item is posted as a new message.
	Shared SharedRefs
}

// Landed is where a delivered item's message is: for SharedRefs.
type Landed struct {
	Channel string `json:"channel"`
	TS      string `json:"ts"`
	Thread  string `json:"thread_ts,omitempty"`
}

// SharedRefs keeps where the items of several outboxes of one chat landed,
// by item ID. A call's failure is logged by the outbox and changes nothing
// else: an unshared delivery is only unknown to the others, and a failed
// lookup posts the item as for an unknown Ref.
type SharedRefs interface {
	Share(ctx context.Context, id string, l Landed) error
	// Lookup returns where id landed; ok false when nobody shared it.
	Lookup(ctx context.Context, id string) (l Landed, ok bool, err error)
}

// Retention is how long an outbox keeps where a message landed after the
// last activity on it or its thread (SharedRefs keep theirs as long).
const Retention = 30 * 24 * time.Hour

// sharedTimeout bounds one call to SharedRefs.
const sharedTimeout = 5 * time.Second

// DeadItem is an item the chat refused for good (the Sender returned
// Permanent): it was logged at error level and will not be sent.
type DeadItem struct {
	Item Item
	// Code is the Sender's code (for Slack, its error code).
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
	outboxRetention = Retention
	// outboxAttemptTimeout bounds one Send. It is wall-clock time on
	// purpose: it bounds network I/O, not a wait of the outbox's own, and a
	// fake clock must not have to be advanced through a Send.
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
	// outboxRecDropped: an EditOnly update whose message was not there.
	outboxRecDropped = "dropped"
)

// outboxRecord is one line of the journal.
type outboxRecord struct {
	Rec string    `json:"rec"`
	At  time.Time `json:"at"`
	// Item: enqueued and dead.
	Item *Item `json:"item,omitempty"`
	// ID, Channel, TS, Thread: delivered. Channel and TS are where the
	// message landed (the chat's channel ID); Thread is the ts of its thread's
	// root when it is a reply.
	ID      string `json:"id,omitempty"`
	Channel string `json:"channel,omitempty"`
	TS      string `json:"ts,omitempty"`
	Thread  string `json:"thread_ts,omitempty"`
	// Code: dead.
	Code string `json:"error,omitempty"`
}

// Outbox delivers chat messages and never drops one silently. There is one
// queue per channel, delivered strictly in order by its own goroutine: item
// n+1 is not sent before item n is delivered or given up, and one channel's
// trouble never holds up another's.
//
// What the Sender says worth retrying (Retry, or any error it does not
// classify) is retried with capped, jittered exponential backoff; RetryAfter
// waits exactly its duration. Those are retried for as long as Run's context
// lives. A permanent refusal (Permanent) is logged at error level and the
// item recorded as dead (see Dead); an update whose message is gone
// (RefGone) is posted as a new message. An update or reply whose Ref is
// dead or unknown is posted as a new top-level message, and a file into the
// channel; an EditOnly update is dropped in both cases instead. An item
// whose ID is known is not enqueued again. Each of these is logged with the
// item's ID and the reason.
//
// Every item is in the journal, Dir/outbox.jsonl, before Enqueue returns,
// so a restart loses nothing. Delivery is at-least-once: Slack's
// chat.postMessage has no idempotency key, so a message the chat accepted
// just before the process died, before the outbox wrote it down as delivered, is sent
// again by the next process. One Outbox, in one process, per Dir.
//
// The journal is JSON lines, appended and fsync'd on every change:
//
//	{"rec":"enqueued","at":...,"item":{"id":...,"channel":...,"op":"post","payload":{...},"enqueued":...}}
//	{"rec":"delivered","at":...,"id":...,"channel":"C0...","ts":"1732770000.000100","thread_ts":...}
//	{"rec":"dead","at":...,"item":{...},"error":"channel_not_found"}
//
// Open replays it (a torn last line is ignored with a warning) and
// rewrites it atomically, as does a write once it has grown past 1 MiB:
// the delivered and dead records of the last 30 days of activity, then the
// pending items in order.
//
// Its methods are safe for concurrent use.
type Outbox struct {
	sender         Sender
	clock          clockwork.Clock
	log            zerolog.Logger
	backoffInitial time.Duration
	backoffMax     time.Duration
	dir, path      string
	shared         SharedRefs // nil: none

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

// Open opens the outbox journaled in cfg.Dir, with what an earlier
// process left queued, and rewrites the journal compactly. It does no
// network I/O: nothing is sent before Run.
func Open(cfg Config, s Sender) (*Outbox, error) {
	switch {
	case cfg.Dir == "":
		return nil, errors.New("open outbox: Dir is empty")
	case s == nil:
		return nil, errors.New("open outbox: no Sender")
	case cfg.BackoffInitial < 0 || cfg.BackoffMax < 0:
		return nil, errors.New("open outbox: BackoffInitial and BackoffMax must not be negative")
	}
	o := &Outbox{
		sender:         s,
		clock:          cfg.Clock,
		log:            cfg.Logger,
		backoffInitial: cmp.Or(cfg.BackoffInitial, time.Second),
		backoffMax:     cmp.Or(cfg.BackoffMax, 5*time.Minute),
		dir:            cfg.Dir,
		path:           filepath.Join(cfg.Dir, outboxJournalName),
		shared:         cfg.Shared,
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
		err := json.Unmarshal(line, &rec)
		if err == nil && rec.Item != nil && len(rec.Item.Payload) == 0 {
			rec.Item.Payload, err = legacyPayload(line)
		}
		if err != nil || !rec.valid() {
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

// legacyPayload is the Payload of an item journaled by the outbox of
// package alerts, which held Slack's text and blocks itself: the same JSON
// object the Slack Sender decodes ({"text":...,"blocks":[...]}), so that
// what an older bot left queued is still sent after an upgrade.
func legacyPayload(line []byte) (json.RawMessage, error) {
	var old struct {
		Item struct {
			Text   string          `json:"text"`
			Blocks json.RawMessage `json:"blocks,omitempty"`
		} `json:"item"`
	}
	if err := json.Unmarshal(line, &old); err != nil {
		return nil, err
	}
	if old.Item.Text == "" {
		return nil, errors.New("item without a payload")
	}
	if len(old.Item.Blocks) > 0 && !json.Valid(old.Item.Blocks) {
		old.Item.Blocks = nil
	}
	return json.Marshal(old.Item)
}

func (r outboxRecord) valid() bool {
	switch r.Rec {
	case outboxRecEnqueued, outboxRecDead:
		return r.Item != nil && r.Item.ID != "" && r.Item.Channel != "" && json.Valid(r.Item.Payload)
	case outboxRecDelivered:
		return r.ID != "" && r.Channel != "" && r.TS != ""
	case outboxRecDropped:
		return r.ID != ""
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
	case outboxRecDropped:
		delete(o.pending, rec.ID)
	}
}

func (o *Outbox) knownLocked(id string) bool {
	_, pending := o.pending[id]
	_, sent := o.sent[id]
	_, dead := o.dead[id]
	return pending || sent || dead
}

// stateLocked says what a known ID is: "pending", "delivered" or "dead".
func (o *Outbox) stateLocked(id string) string {
	switch {
	case o.pending[id] != nil:
		return "pending"
	case o.dead[id].Item.ID != "":
		return "dead"
	}
	return "delivered"
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
// known, queued or delivered or dead, is a no-op, logged with the ID and
// its state. An empty Enqueued is set to now. An item without an ID,
// Channel or a Payload that is JSON, or with a Ref its Op needs missing,
// is refused with an error.
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
		o.log.Info().Str("item", it.ID).Str("channel", it.Channel).Str("reason", o.stateLocked(it.ID)).
			Msgf("outbox: item dropped as a duplicate: its ID is already %s", o.stateLocked(it.ID))
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
	case len(it.Payload) == 0:
		return errors.New("no payload")
	case !json.Valid(it.Payload):
		return errors.New("payload is not valid JSON")
	}
	switch it.Op {
	case OpPost:
	case OpFile:
		if it.Ref == it.ID {
			return fmt.Errorf("op %s cannot refer to itself", it.Op)
		}
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
		if o.shared != nil {
			refUnknown := o.refUnknownLocked(e.item)
			o.mu.Unlock()
			self, delivered := o.lookupShared(ctx, e.item, e.item.ID)
			var ref Landed
			var refFound bool
			if refUnknown && !delivered {
				ref, refFound = o.lookupShared(ctx, e.item, e.item.Ref)
			}
			o.mu.Lock()
			if ctx.Err() != nil {
				o.mu.Unlock()
				continue // stopping: it stays queued (the loop's top returns)
			}
			if delivered {
				// A leader that died before its acknowledgement: the
				// message is there once already.
				o.log.Info().Str("item", e.item.ID).Str("channel", e.item.Channel).Msg("outbox: another outbox of this chat delivered the item already; not sent again")
				o.finishLocked(q, e, outboxResult{sent: outboxSent{channel: self.Channel, ts: self.TS, thread: self.Thread}})
				o.mu.Unlock()
				continue
			}
			if _, known := o.sent[e.item.Ref]; refFound && !known {
				o.sent[e.item.Ref] = outboxSent{channel: ref.Channel, ts: ref.TS, thread: ref.Thread, at: o.clock.Now()}
			}
		}
		target := o.targetLocked(e.item)
		if target.Op == "" { // an EditOnly update with nothing to edit
			o.finishLocked(q, e, outboxResult{dropped: true})
			o.mu.Unlock()
			continue
		}
		o.mu.Unlock()

		res, done := o.deliver(ctx, e.item, target)
		if !done {
			continue // ctx is done; it stays queued for the next Run
		}
		o.mu.Lock()
		o.finishLocked(q, e, res)
		o.mu.Unlock()
		if o.shared != nil && res.code == "" && !res.dropped {
			o.share(ctx, e.item, res.sent)
		}
	}
}

// refUnknownLocked says whether it refers to a message this outbox has no
// record of (neither delivered nor dead here).
func (o *Outbox) refUnknownLocked(it Item) bool {
	if it.Ref == "" || it.Op == OpPost {
		return false
	}
	_, sent := o.sent[it.Ref]
	_, dead := o.dead[it.Ref]
	return !sent && !dead
}

// lookupShared asks the other outboxes where id (it's own, or its Ref)
// landed; a failure is logged and reads as not found.
func (o *Outbox) lookupShared(ctx context.Context, it Item, id string) (Landed, bool) {
	lctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	l, ok, err := o.shared.Lookup(lctx, id)
	switch {
	case err != nil && ctx.Err() != nil: // stopping: the item stays queued
		return Landed{}, false
	case err != nil:
		o.log.Warn().Err(err).Str("item", it.ID).Str("id", id).Msg("outbox: cannot ask where another outbox of this chat delivered it")
		return Landed{}, false
	case ok && (l.Channel == "" || l.TS == ""):
		o.log.Warn().Str("item", it.ID).Str("id", id).Msg("outbox: the shared record has no message: ignored")
		return Landed{}, false
	case ok && id == it.Ref:
		o.log.Info().Str("item", it.ID).Str("ref", it.Ref).Str("ts", l.TS).Msg("outbox: the ref was delivered by another outbox of this chat")
	}
	return l, ok
}

// share tells the other outboxes where it landed.
func (o *Outbox) share(ctx context.Context, it Item, s outboxSent) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedTimeout)
	defer cancel()
	if err := o.shared.Share(sctx, it.ID, Landed{Channel: s.channel, TS: s.ts, Thread: s.thread}); err != nil {
		o.log.Warn().Err(err).Str("item", it.ID).Msg("outbox: cannot share where the item landed; another hub would not find its thread")
	}
}

// targetLocked resolves the Ref of it. An update or reply whose Ref has not
// landed (dead, unknown, or forgotten) is posted as a new message, and a
// file whose Ref has not landed goes into the channel; either is logged.
// An EditOnly update whose Ref has not landed gets no target (Op ""): it is
// dropped.
func (o *Outbox) targetLocked(it Item) Target {
	if it.Op == OpPost || (it.Op == OpFile && it.Ref == "") {
		return Target{Op: it.Op, Channel: it.Channel}
	}
	s, ok := o.sent[it.Ref]
	if !ok {
		why := "unknown"
		if d, dead := o.dead[it.Ref]; dead {
			why = "dead (" + d.Code + ")"
		} else if _, pending := o.pending[it.Ref]; pending {
			why = "not delivered yet"
		}
		op, where := OpPost, "posting it as a new message"
		switch {
		case it.Op == OpFile:
			op, where = OpFile, "uploading it into the channel"
		case it.Op == OpUpdate && it.EditOnly:
			op, where = "", "dropping it (the reply beside it says the same)"
		}
		o.log.Warn().Str("item", it.ID).Str("channel", it.Channel).Str("ref", it.Ref).Str("ref_state", why).
			Msgf("outbox: the %s's message is not in the chat (ref %s); %s", it.Op, why, where)
		return Target{Op: op, Channel: it.Channel}
	}
	switch it.Op {
	case OpUpdate:
		return Target{Op: OpUpdate, Channel: s.channel, TS: s.ts, Thread: s.thread}
	case OpFile:
		return Target{Op: OpFile, Channel: s.channel, Thread: cmp.Or(s.thread, s.ts)}
	}
	return Target{Op: OpReply, Channel: s.channel, Thread: cmp.Or(s.thread, s.ts)}
}

// outboxResult is how an item ended: delivered to sent, or dead with code.
type outboxResult struct {
	sent    outboxSent
	code    string
	dropped bool // an EditOnly update whose message is not there
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
	if res.dropped {
		rec = outboxRecord{Rec: outboxRecDropped, At: now, ID: e.item.ID}
	} else if res.code != "" {
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

// deliver sends it until the Sender delivers it or gives it up; done is
// false when ctx ended first.
func (o *Outbox) deliver(ctx context.Context, it Item, t Target) (res outboxResult, done bool) {
	log := o.log.With().Str("item", it.ID).Str("channel", it.Channel).Str("op", string(it.Op)).Logger()
	failures := 0
	for attempt := 1; ; attempt++ {
		channel, ts, err := o.attempt(ctx, it, t)
		if err == nil && ts == "" {
			err = Retry(errNoTS)
		}
		if err == nil {
			if attempt > 1 {
				log.Info().Int("attempts", attempt).Msg("outbox: delivered after retries")
			}
			sent := outboxSent{channel: cmp.Or(channel, t.Channel), ts: ts, thread: t.Thread}
			if t.Op == OpUpdate {
				sent.ts = cmp.Or(ts, t.TS)
			}
			return outboxResult{sent: sent}, true
		}
		if ctx.Err() != nil {
			return outboxResult{}, false
		}
		var perm *PermanentError
		if errors.As(err, &perm) {
			if perm.Gone && t.Op == OpUpdate && it.EditOnly {
				log.Warn().Err(err).Str("code", perm.Code).Str("ref", it.Ref).Msg("outbox: the message to update is gone; the edit is dropped (the reply beside it says the same)")
				return outboxResult{dropped: true}, true
			}
			if perm.Gone && t.Op == OpUpdate {
				log.Warn().Err(err).Str("code", perm.Code).Str("ref", it.Ref).Msg("outbox: the message to update is gone; posting it as a new message")
				t = Target{Op: OpPost, Channel: it.Channel}
				continue
			}
			log.Error().Err(err).Str("code", perm.Code).Int("attempts", attempt).Msg("outbox: dead letter: the chat refused the item for good; it will not be sent")
			return outboxResult{code: perm.Code}, true
		}
		var wait time.Duration
		var re *RetryError
		if errors.As(err, &re) {
			wait = re.After
		}
		if wait <= 0 {
			wait = o.backoff(failures)
			failures++
		}
		log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", wait).Msg("outbox: delivery failed; will retry")
		if !o.sleep(ctx, wait) {
			return outboxResult{}, false
		}
	}
}

// attempt makes one Send of it. The call outlives ctx by up to
// outboxShutdownGrace, so that a message the chat takes as Run stops is
// recorded as delivered rather than sent again after the restart.
func (o *Outbox) attempt(ctx context.Context, it Item, t Target) (channel, ts string, err error) {
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
	return o.sender.Send(actx, it, t)
}

// errNoTS is a success without a ts, which the chat does not send; it is
// retried like a garbled answer.
var errNoTS = errors.New("the chat answered ok without a ts")

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

// TS says where a delivered item landed: the chat's channel ID and the
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

// Dead lists the items the chat refused for good, oldest first.
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

	// Closed before the rename, which Windows refuses over an open file.
	if o.journal != nil {
		_ = o.journal.Close()
		o.journal = nil
	}
	writeErr := statefile.WriteAtomic(o.path, buf.Bytes())
	f, err := os.OpenFile(o.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("compact journal: reopen: %w", errors.Join(writeErr, err))
	}
	o.journal = f
	if writeErr != nil {
		o.dirty = true
		st, serr := f.Stat()
		if serr == nil {
			o.size = st.Size()
		}
		return fmt.Errorf("compact journal: %w", writeErr)
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
