package delivery_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"go.uber.org/goleak"

	"github.com/sanasend/sanasend-bot/bot/slackbot"
	"github.com/sanasend/sanasend-bot/delivery"
	"github.com/sanasend/sanasend-bot/internal/fakeslack"
	"github.com/sanasend/sanasend-bot/internal/syncbuf"
)

// outboxWait bounds every wait of these tests on something real (an HTTP
// round trip to the fake, a goroutine reaching a timer).
const outboxWait = 10 * time.Second

// outboxEpoch is the fake clock's start: the journal in testdata/outbox is
// dated just before it.
var outboxEpoch = time.Date(2025, 11, 28, 12, 0, 0, 0, time.UTC)

// outboxEnv is an outbox's world: the fake Slack, a fake clock, a state
// dir and the logs.
type outboxEnv struct {
	fake  *fakeslack.Server
	clock *clockwork.FakeClock
	dir   string
	logs  *outboxLogs
	cfg   delivery.Config
}

func newOutboxEnv(t *testing.T) *outboxEnv {
	t.Helper()
	outboxNoLeaks(t) // first, so that its cleanup runs last
	env := &outboxEnv{
		fake:  fakeslack.New(t),
		clock: clockwork.NewFakeClockAt(outboxEpoch),
		dir:   t.TempDir(),
		logs:  &outboxLogs{},
	}
	env.cfg = delivery.Config{
		Dir:            env.dir,
		Clock:          env.clock,
		Logger:         zerolog.New(env.logs),
		BackoffInitial: time.Second,
		BackoffMax:     5 * time.Minute,
	}
	t.Cleanup(func() {
		if strings.Contains(env.logs.String(), fakeslack.DefaultBotToken) {
			t.Errorf("the logs hold the bot token:\n%s", env.logs)
		}
		if t.Failed() {
			t.Logf("outbox logs:\n%s", env.logs)
		}
	})
	return env
}

// outboxNoLeaks fails t if a goroutine started during it outlives it.
func outboxNoLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// client is the real slack-go client, pointed at the fake, with no
// retries of its own.
func (env *outboxEnv) client(opts ...slack.Option) *slack.Client {
	return slack.New(fakeslack.DefaultBotToken, append([]slack.Option{slack.OptionAPIURL(env.fake.APIURL())}, opts...)...)
}

// sender is the Slack Sender over api (env.client() when nil).
func (env *outboxEnv) sender(t *testing.T, api slackbot.OutboundAPI) *slackbot.Sender {
	t.Helper()
	if api == nil {
		api = env.client()
	}
	s, err := slackbot.NewSender(api, zerolog.New(env.logs))
	if err != nil {
		t.Fatalf("NewSender: %v", err)
	}
	return s
}

// open opens an outbox on env's dir; t.Cleanup closes it.
func (env *outboxEnv) open(t *testing.T, s delivery.Sender) *delivery.Outbox {
	t.Helper()
	o, err := delivery.Open(env.cfg, s)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = o.Close() })
	return o
}

// outboxStart runs o until the returned stop is called (t.Cleanup calls it too);
// stop waits for Run to return.
func outboxStart(t *testing.T, o *delivery.Outbox) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		o.Run(ctx)
	}()
	stop = func() {
		t.Helper()
		cancel()
		select {
		case <-done:
		case <-time.After(outboxWait):
			t.Fatalf("Run did not return within %v of its context's end", outboxWait)
		}
	}
	t.Cleanup(stop)
	return stop
}

func outboxCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), outboxWait)
	t.Cleanup(cancel)
	return ctx
}

func outboxEnqueue(t *testing.T, o *delivery.Outbox, items ...delivery.Item) {
	t.Helper()
	for _, it := range items {
		if err := o.Enqueue(it); err != nil {
			t.Fatalf("Enqueue(%s): %v", it.ID, err)
		}
	}
}

func outboxFlush(t *testing.T, o *delivery.Outbox) {
	t.Helper()
	if err := o.Flush(outboxCtx(t)); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// outboxWaitPending waits until o has n items pending.
func outboxWaitPending(t *testing.T, o *delivery.Outbox, n int) {
	t.Helper()
	ctx := outboxCtx(t)
	for {
		got, changed := delivery.PendingChanged(o)
		if got == n {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("waited %v for %d pending; %d are", outboxWait, n, got)
		}
	}
}

// outboxBlockUntil waits until n goroutines wait on env's clock.
func (env *outboxEnv) blockUntil(t *testing.T, n int) {
	t.Helper()
	if err := env.clock.BlockUntilContext(outboxCtx(t), n); err != nil {
		t.Fatalf("waited %v for %d waiters on the clock: %v; calls seen: %v", outboxWait, n, err, outboxSummary(env.fake.Calls("")))
	}
}

func post(id, channel, text string) delivery.Item {
	return delivery.Item{ID: id, Channel: channel, Op: delivery.OpPost, Payload: payload(text, nil)}
}

func update(id, ref, channel, text string) delivery.Item {
	return delivery.Item{ID: id, Channel: channel, Op: delivery.OpUpdate, Ref: ref, Payload: payload(text, nil)}
}

func reply(id, ref, channel, text string) delivery.Item {
	return delivery.Item{ID: id, Channel: channel, Op: delivery.OpReply, Ref: ref, Payload: payload(text, nil)}
}

// payload is a Slack payload of text and raw blocks (nil: none), as is:
// blocks Slack refuses cannot be made with slackbot.EncodePayload.
func payload(text string, blocks json.RawMessage) json.RawMessage {
	data, err := json.Marshal(slackbot.Payload{Text: text, Blocks: blocks})
	if err != nil {
		panic(err)
	}
	return data
}

// outboxSummary is "method status/error text" for each call, for failure
// messages and order checks.
func outboxSummary(calls []fakeslack.Call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		outcome := "ok"
		if c.Error != "" || c.Status != http.StatusOK {
			outcome = c.Error
		}
		out[i] = c.Method + " " + outcome + " " + c.Param("text")
	}
	return out
}

// outboxDelivered is the text of each successful call of method, in order.
func outboxDelivered(calls []fakeslack.Call, method string) []string {
	var out []string
	for _, c := range calls {
		if c.Method == method && c.Status == http.StatusOK && c.Error == "" {
			out = append(out, c.Param("text"))
		}
	}
	return out
}

// TestOutboxRetriesInOrder: 500, then 429 Retry-After 2, then 200; three
// messages of one channel arrive once each, in order, and the 429's wait
// is exactly 2s on the clock.
func TestOutboxRetriesInOrder(t *testing.T) {
	env := newOutboxEnv(t)
	api := &outboxTimedSender{Sender: env.sender(t, nil), clock: env.clock}
	o := env.open(t, api)
	env.fake.FailNext("chat.postMessage", fakeslack.Answer{Status: 500}, fakeslack.Answer{Status: 429, RetryAfter: 2})
	outboxEnqueue(t, o, post("m1", "C0OPS", "one"), post("m2", "C0OPS", "two"), post("m3", "C0OPS", "three"))
	outboxStart(t, o)

	env.fake.WaitCalls(t, "chat.postMessage", 1, outboxWait)
	env.blockUntil(t, 1) // backing off after the 500
	env.clock.Advance(env.cfg.BackoffInitial)
	env.fake.WaitCalls(t, "chat.postMessage", 2, outboxWait)
	env.blockUntil(t, 1) // waiting out the Retry-After
	env.clock.Advance(2*time.Second - time.Millisecond)
	env.clock.Advance(time.Millisecond)
	outboxFlush(t, o)

	calls := env.fake.Calls("chat.postMessage")
	got := outboxSummary(calls)
	want := []string{
		"chat.postMessage internal_error one",
		"chat.postMessage ratelimited one",
		"chat.postMessage ok one",
		"chat.postMessage ok two",
		"chat.postMessage ok three",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("calls = %q; want %q", got, want)
	}
	if calls[0].Status != 500 || calls[1].Status != 429 {
		t.Errorf("statuses of the failed attempts = %d, %d; want 500, 429", calls[0].Status, calls[1].Status)
	}
	at := api.times()
	if len(at) != 5 {
		t.Fatalf("%d attempts timed; want 5", len(at))
	}
	// The clock moved 1s, then 1.999s, then 1ms: an attempt that did not
	// wait exactly the 2s of Retry-After would be at another time.
	if d := at[2].Sub(at[1]); d != 2*time.Second {
		t.Errorf("the attempt after the 429 came %v after it on the clock; want exactly the Retry-After, 2s", d)
	}
	if d := at[1].Sub(at[0]); d != env.cfg.BackoffInitial {
		t.Errorf("the attempt after the 500 came %v after it; want %v", d, env.cfg.BackoffInitial)
	}
	for _, id := range []string{"m1", "m2", "m3"} {
		if channel, ts, ok := o.TS(id); !ok || channel != "C0OPS" || ts == "" {
			t.Errorf("TS(%s) = %q, %q, %v; want C0OPS and a ts", id, channel, ts, ok)
		}
	}
	if n := o.Pending(); n != 0 {
		t.Errorf("Pending() = %d; want 0", n)
	}
	for _, want := range []string{`http_500`, `ratelimited`, `"retry_in":2000`, `"item":"m1"`} {
		if !strings.Contains(env.logs.String(), want) {
			t.Errorf("the logs do not hold %s", want)
		}
	}
}

// TestOutboxChannelsAreIndependent: a channel whose posts fail (first a
// 500 that it backs off from, then channel_not_found) holds up no other;
// its items end up in Dead.
func TestOutboxChannelsAreIndependent(t *testing.T) {
	env := newOutboxEnv(t)
	api := env.client(slack.OptionHTTPClient(&http.Client{Transport: outboxChannelRoute{base: http.DefaultTransport, channel: "C0GONE"}}))
	o := env.open(t, env.sender(t, api))
	gone := "chat.postMessage/C0GONE"
	notFound := fakeslack.Answer{Error: "channel_not_found"}
	env.fake.FailNext(gone, fakeslack.Answer{Status: 503}, notFound, notFound, notFound)
	outboxEnqueue(t, o,
		post("gone-1", "C0GONE", "gone one"), post("ops-1", "C0OPS", "ops one"),
		post("gone-2", "C0GONE", "gone two"), post("ops-2", "C0OPS", "ops two"),
		post("gone-3", "C0GONE", "gone three"), post("ops-3", "C0OPS", "ops three"))
	outboxStart(t, o)

	// C0GONE backs off on the clock, which does not move: C0OPS goes on.
	env.fake.WaitCalls(t, gone, 1, outboxWait)
	outboxWaitPending(t, o, 3)
	if got, want := outboxDelivered(env.fake.Calls("chat.postMessage"), "chat.postMessage"), []string{"ops one", "ops two", "ops three"}; !slices.Equal(got, want) {
		t.Fatalf("delivered to C0OPS while C0GONE backs off: %q; want %q", got, want)
	}
	env.blockUntil(t, 1)
	env.clock.Advance(env.cfg.BackoffInitial)
	outboxFlush(t, o)

	if got, want := outboxSummary(env.fake.Calls(gone)), []string{
		gone + " internal_error gone one",
		gone + " channel_not_found gone one",
		gone + " channel_not_found gone two",
		gone + " channel_not_found gone three",
	}; !slices.Equal(got, want) {
		t.Errorf("C0GONE calls = %q; want %q", got, want)
	}
	dead := o.Dead()
	var ids []string
	for _, d := range dead {
		ids = append(ids, d.Item.ID)
		if d.Code != "channel_not_found" || d.Item.Channel != "C0GONE" {
			t.Errorf("Dead item %s: code %q, channel %q; want channel_not_found, C0GONE", d.Item.ID, d.Code, d.Item.Channel)
		}
	}
	if want := []string{"gone-1", "gone-2", "gone-3"}; !slices.Equal(ids, want) {
		t.Errorf("Dead() = %q; want %q", ids, want)
	}
	if _, _, ok := o.TS("gone-1"); ok {
		t.Errorf("TS(gone-1) is known; want not")
	}
	logged := env.logs.entries(t)
	for _, id := range []string{"gone-1", "gone-2", "gone-3"} {
		if !slices.ContainsFunc(logged, func(e map[string]any) bool {
			return e["level"] == "error" && e["item"] == id && e["code"] == "channel_not_found" && e["channel"] == "C0GONE"
		}) {
			t.Errorf("no error logged for %s with its channel and channel_not_found", id)
		}
	}
}

// TestOutboxRestart: what is queued when the bot stops during an outage
// is sent, in order, once, by the next process; what was delivered before
// is not sent again, and an update finds the message it edits.
func TestOutboxRestart(t *testing.T) {
	env := newOutboxEnv(t)
	o1 := env.open(t, env.sender(t, nil))
	stop1 := outboxStart(t, o1)
	outboxEnqueue(t, o1, post("incident-1", "C0OPS", "whatsapp is down"))
	outboxFlush(t, o1)
	_, ts1, ok := o1.TS("incident-1")
	if !ok {
		t.Fatal("TS(incident-1) unknown after Flush")
	}

	// Slack answers 500 to everything the first process tries.
	env.fake.FailNext("chat.postMessage", fakeslack.Answer{Status: 500}, fakeslack.Answer{Status: 502})
	outboxEnqueue(t, o1,
		post("incident-2", "C0OPS", "django is down"),
		update("incident-1-update", "incident-1", "C0OPS", "whatsapp is down (acknowledged)"),
		reply("incident-1-resolved", "incident-1", "C0OPS", "resolved after 4m12s"))
	env.fake.WaitCalls(t, "chat.postMessage", 2, outboxWait)
	env.blockUntil(t, 1)
	env.clock.Advance(env.cfg.BackoffInitial)
	env.fake.WaitCalls(t, "chat.postMessage", 3, outboxWait)
	env.blockUntil(t, 1)
	stop1()
	if err := o1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := o1.Pending(); n != 3 {
		t.Fatalf("Pending() at the stop = %d; want 3", n)
	}

	// A new process, and Slack is back.
	o2 := env.open(t, env.sender(t, nil))
	if n := o2.Pending(); n != 3 {
		t.Fatalf("Pending() after the restart = %d; want 3", n)
	}
	if _, ts, ok := o2.TS("incident-1"); !ok || ts != ts1 {
		t.Fatalf("TS(incident-1) after the restart = %q, %v; want %q", ts, ok, ts1)
	}
	outboxStart(t, o2)
	outboxFlush(t, o2)

	calls := env.fake.Calls("")
	var delivered []string
	for _, c := range calls {
		if c.Status == http.StatusOK && c.Error == "" {
			delivered = append(delivered, c.Method+" "+c.Param("text"))
		}
	}
	want := []string{
		"chat.postMessage whatsapp is down",
		"chat.postMessage django is down",
		"chat.update whatsapp is down (acknowledged)",
		"chat.postMessage resolved after 4m12s",
	}
	if !slices.Equal(delivered, want) {
		t.Fatalf("delivered = %q; want %q (all calls: %q)", delivered, want, outboxSummary(calls))
	}
	upd := env.fake.Calls("chat.update")[0]
	if upd.Param("ts") != ts1 || upd.Param("channel") != "C0OPS" {
		t.Errorf("chat.update edited %s/%s; want C0OPS/%s", upd.Param("channel"), upd.Param("ts"), ts1)
	}
	last := calls[len(calls)-1]
	if last.Param("thread_ts") != ts1 {
		t.Errorf("the reply went to thread %q; want %q", last.Param("thread_ts"), ts1)
	}
	if _, ts, _ := o2.TS("incident-1-update"); ts != ts1 {
		t.Errorf("TS(incident-1-update) = %q; want the edited message, %q", ts, ts1)
	}
}

// TestOutboxRefs: update and reply use their Ref's ts (a reply to a reply
// goes to the thread's root); when the Ref is dead or unknown the item is
// posted as a new top-level message.
func TestOutboxRefs(t *testing.T) {
	env := newOutboxEnv(t)
	o := env.open(t, env.sender(t, nil))
	outboxStart(t, o)
	outboxEnqueue(t, o,
		post("p", "C0OPS", "whatsapp is down"),
		update("p-ack", "p", "C0OPS", "whatsapp is down (acknowledged by @alice)"),
		reply("p-r1", "p", "C0OPS", "restarting"),
		reply("p-r2", "p-r1", "C0OPS", "restarted"),
		update("p-r1-edit", "p-r1", "C0OPS", "restarting (done)"))
	outboxFlush(t, o)
	_, tsP, _ := o.TS("p")
	_, tsR1, _ := o.TS("p-r1")

	posts := env.fake.Calls("chat.postMessage")
	updates := env.fake.Calls("chat.update")
	if len(posts) != 3 || len(updates) != 2 {
		t.Fatalf("calls = %q; want 3 posts and 2 updates", outboxSummary(env.fake.Calls("")))
	}
	for _, tt := range []struct {
		name string
		call fakeslack.Call
		arg  string
		want string
	}{
		{"post has no thread", posts[0], "thread_ts", ""},
		{"update of p", updates[0], "ts", tsP},
		{"reply to p", posts[1], "thread_ts", tsP},
		{"reply to a reply goes to the root", posts[2], "thread_ts", tsP},
		{"update of a reply", updates[1], "ts", tsR1},
	} {
		if got := tt.call.Param(tt.arg); got != tt.want {
			t.Errorf("%s: %s = %q; want %q", tt.name, tt.arg, got, tt.want)
		}
	}

	// d is refused for good; what refers to it, or to nothing, is posted
	// top-level.
	env.fake.FailNext("chat.postMessage", fakeslack.Answer{Error: "msg_too_long"})
	outboxEnqueue(t, o,
		post("d", "C0OPS", "too long"),
		reply("d-reply", "d", "C0OPS", "a reply to a dead message"),
		update("d-update", "d", "C0OPS", "an update of a dead message"),
		reply("x-reply", "never-enqueued", "C0OPS", "a reply to an unknown message"))
	outboxFlush(t, o)
	if dead := o.Dead(); len(dead) != 1 || dead[0].Item.ID != "d" || dead[0].Code != "msg_too_long" {
		t.Fatalf("Dead() = %+v; want d with msg_too_long", dead)
	}
	posts = env.fake.Calls("chat.postMessage")[3:]
	got := outboxSummary(posts)
	want := []string{
		"chat.postMessage msg_too_long too long",
		"chat.postMessage ok a reply to a dead message",
		"chat.postMessage ok an update of a dead message",
		"chat.postMessage ok a reply to an unknown message",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("posts = %q; want %q", got, want)
	}
	for _, c := range posts[1:] {
		if th := c.Param("thread_ts"); th != "" {
			t.Errorf("%q was posted in thread %s; want top-level", c.Param("text"), th)
		}
	}
	if n := len(env.fake.Calls("chat.update")); n != 2 {
		t.Errorf("%d chat.update calls; want the 2 of before (an update of a dead message is a post)", n)
	}
	for _, id := range []string{"d-reply", "d-update", "x-reply"} {
		if _, _, ok := o.TS(id); !ok {
			t.Errorf("TS(%s) unknown; want where it was posted", id)
		}
	}
}

// TestOutboxEditOnly: an EditOnly update edits its message where it is in
// the chat; where it is not (never landed here, dead) or is gone, it is
// dropped: nothing posted, nothing pending, not sent again by the next
// process; the reply beside it is posted as usual.
func TestOutboxEditOnly(t *testing.T) {
	editOnly := func(it delivery.Item) delivery.Item { it.EditOnly = true; return it }
	env := newOutboxEnv(t)
	o := env.open(t, env.sender(t, nil))
	stop := outboxStart(t, o)
	env.fake.FailNext("chat.postMessage", fakeslack.Answer{Error: "msg_too_long"})
	outboxEnqueue(t, o,
		post("dead", "C0OPS", "too long"),
		post("p", "C0OPS", "web-2's agent stopped reporting"),
		reply("p-back", "p", "C0OPS", "web-2's agent is back"),
		editOnly(update("p-back-edit", "p", "C0OPS", "web-2's agent is back (edit)")),
		reply("x-back", "posted-by-another-hub", "C0OPS", "web-3's agent is back"),
		editOnly(update("x-back-edit", "posted-by-another-hub", "C0OPS", "web-3's agent is back (edit)")),
		editOnly(update("dead-edit", "dead", "C0OPS", "an edit of a dead message")))
	outboxFlush(t, o)
	env.fake.FailNext("chat.update", fakeslack.Answer{Error: "message_not_found"})
	outboxEnqueue(t, o,
		editOnly(update("p-gone-edit", "p", "C0OPS", "an edit of a deleted message")),
		update("p-gone-update", "p", "C0OPS", "an update of a deleted message, not EditOnly"))
	env.fake.FailNext("chat.update", fakeslack.Answer{Error: "message_not_found"})
	outboxFlush(t, o)

	var got []string
	for _, c := range outboxSummary(env.fake.Calls("")) {
		if method, text, ok := strings.Cut(c, " ok "); ok {
			got = append(got, method+" "+text)
		}
	}
	want := []string{
		"chat.postMessage web-2's agent stopped reporting",
		"chat.postMessage web-2's agent is back",
		"chat.update web-2's agent is back (edit)",
		"chat.postMessage web-3's agent is back",
		"chat.postMessage an update of a deleted message, not EditOnly",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("delivered = %q; want %q (all calls %q)", got, want, outboxSummary(env.fake.Calls("")))
	}
	if n := o.Pending(); n != 0 {
		t.Errorf("Pending() = %d; want 0", n)
	}
	for _, id := range []string{"x-back-edit", "dead-edit", "p-gone-edit"} {
		if _, _, ok := o.TS(id); ok {
			t.Errorf("TS(%s) known; a dropped edit has no message", id)
		}
	}
	if dead := o.Dead(); len(dead) != 1 || dead[0].Item.ID != "dead" {
		t.Errorf("Dead() = %+v; want only the refused post (a dropped edit is not a dead letter)", dead)
	}

	// The next process sends none of them again.
	stop()
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	calls := len(env.fake.Calls(""))
	o2 := env.open(t, env.sender(t, nil))
	if n := o2.Pending(); n != 0 {
		t.Fatalf("Pending() after a reopen = %d; want 0", n)
	}
	outboxStart(t, o2)
	outboxEnqueue(t, o2, post("after", "C0OPS", "after the reopen"))
	outboxFlush(t, o2)
	if got := outboxSummary(env.fake.Calls("")[calls:]); !slices.Equal(got, []string{"chat.postMessage ok after the reopen"}) {
		t.Errorf("calls after the reopen = %q; want only the new post", got)
	}
}

// TestOutboxInvalidBlocks: blocks Slack refuses are retried once, as
// text only; refused again, the item is dead and the channel goes on.
func TestOutboxInvalidBlocks(t *testing.T) {
	env := newOutboxEnv(t)
	o := env.open(t, env.sender(t, nil))
	outboxStart(t, o)
	good, err := json.Marshal(slack.Blocks{BlockSet: []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*whatsapp* is down", false, false), nil, nil),
	}})
	if err != nil {
		t.Fatal(err)
	}
	bad := json.RawMessage(`[{"text":"a block without a type"}]`) // the fake answers invalid_blocks, as Slack does

	it := post("bad", "C0OPS", "whatsapp is down")
	it.Payload = payload("whatsapp is down", bad)
	outboxEnqueue(t, o, it)
	outboxFlush(t, o)
	calls := env.fake.Calls("chat.postMessage")
	if len(calls) != 2 || calls[0].Error != "invalid_blocks" || calls[0].Param("blocks") == "" ||
		calls[1].Error != "" || calls[1].Param("blocks") != "" || calls[1].Param("text") != "whatsapp is down" {
		t.Fatalf("calls = %q; want invalid_blocks with blocks, then ok with the text alone", outboxSummary(calls))
	}
	if _, _, ok := o.TS("bad"); !ok {
		t.Error("TS(bad) unknown; want delivered as text")
	}

	upd := update("bad-update", "bad", "C0OPS", "whatsapp is down (acknowledged)")
	upd.Payload = payload("whatsapp is down (acknowledged)", bad)
	outboxEnqueue(t, o, upd)
	outboxFlush(t, o)
	updates := env.fake.Calls("chat.update")
	if len(updates) != 2 || updates[0].Error != "invalid_blocks" || updates[1].Error != "" || updates[1].Param("blocks") != "[]" {
		t.Fatalf("chat.update calls = %q, blocks of the last %q; want invalid_blocks, then ok clearing the blocks ([])",
			outboxSummary(updates), updates[len(updates)-1].Param("blocks"))
	}

	// Refused twice: dead after exactly two attempts, and the next item goes.
	env.fake.FailNext("chat.postMessage", fakeslack.Answer{Error: "invalid_blocks"}, fakeslack.Answer{Error: "invalid_blocks"})
	twice := post("twice", "C0OPS", "django is down")
	twice.Payload = payload("django is down", good)
	after := post("after", "C0OPS", "django is up")
	after.Payload = payload("django is up", good)
	outboxEnqueue(t, o, twice, after)
	outboxFlush(t, o)
	calls = env.fake.Calls("chat.postMessage")[2:]
	if got, want := outboxSummary(calls), []string{
		"chat.postMessage invalid_blocks django is down",
		"chat.postMessage invalid_blocks django is down",
		"chat.postMessage ok django is up",
	}; !slices.Equal(got, want) {
		t.Fatalf("calls = %q; want %q", got, want)
	}
	if calls[0].Param("blocks") == "" || calls[1].Param("blocks") != "" || len(calls[2].Blocks()) != 1 {
		t.Errorf("blocks sent = %q, %q, %q; want blocks, none, blocks", calls[0].Param("blocks"), calls[1].Param("blocks"), calls[2].Param("blocks"))
	}
	if dead := o.Dead(); len(dead) != 1 || dead[0].Item.ID != "twice" || dead[0].Code != "invalid_blocks" {
		t.Errorf("Dead() = %+v; want twice with invalid_blocks", dead)
	}
}

// TestOutboxJournal: a torn last line is ignored with a warning; opening
// compacts the journal to the ts of delivered messages (within the
// retention), the dead items and the pending items, in order.
func TestOutboxJournal(t *testing.T) {
	env := newOutboxEnv(t)
	torn, err := os.ReadFile(filepath.Join("testdata", "outbox", "torn.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(env.dir, "outbox.jsonl")
	if err := os.WriteFile(path, torn, 0o600); err != nil {
		t.Fatal(err)
	}
	o := env.open(t, env.sender(t, nil))

	if n := o.Pending(); n != 2 {
		t.Errorf("Pending() = %d; want 2 (b and c)", n)
	}
	if channel, ts, ok := o.TS("a"); !ok || channel != "C0OPS" || ts != "1732760000.000100" {
		t.Errorf("TS(a) = %q, %q, %v; want C0OPS, 1732760000.000100", channel, ts, ok)
	}
	if _, _, ok := o.TS("ancient"); ok {
		t.Error("TS(ancient) is known; want forgotten, its message idle for longer than the retention")
	}
	if dead := o.Dead(); len(dead) != 1 || dead[0].Item.ID != "d" || dead[0].Code != "channel_not_found" {
		t.Errorf("Dead() = %+v; want d with channel_not_found", dead)
	}
	if !slices.ContainsFunc(env.logs.entries(t), func(e map[string]any) bool {
		return e["level"] == "warn" && strings.Contains(e["message"].(string), "torn") && e["line"] == float64(9)
	}) {
		t.Errorf("no warning about the torn line 9")
	}

	got := outboxReadJournal(t, path)
	want := []string{"delivered a 1732760000.000100", "dead d channel_not_found", "enqueued b", "enqueued c"}
	if !slices.Equal(got, want) {
		t.Fatalf("compacted journal = %q; want %q", got, want)
	}

	// b goes; c updates a message this fake never saw (message_not_found),
	// so it is posted instead.
	outboxStart(t, o)
	outboxFlush(t, o)
	if got, want := outboxSummary(env.fake.Calls("")), []string{
		"chat.postMessage ok b: django is down",
		"chat.update message_not_found a: whatsapp is down (acknowledged)",
		"chat.postMessage ok a: whatsapp is down (acknowledged)",
	}; !slices.Equal(got, want) {
		t.Errorf("calls = %q; want %q", got, want)
	}
}

// TestOutboxCompactsWhenGrown: past its size limit the journal is
// rewritten to what is still needed, and reopening it gives the same ts.
func TestOutboxCompactsWhenGrown(t *testing.T) {
	env := newOutboxEnv(t)
	o := env.open(t, env.sender(t, nil))
	delivery.SetCompactAt(o, 4<<10)
	outboxStart(t, o)
	const n = 40
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "item-" + string(rune('A'+i))
		outboxEnqueue(t, o, post(ids[i], "C0OPS", strings.Repeat("x", 200)))
	}
	outboxFlush(t, o)

	path := filepath.Join(env.dir, "outbox.jsonl")
	records := outboxReadJournal(t, path)
	enqueued := 0
	for _, r := range records {
		if strings.HasPrefix(r, "enqueued ") {
			enqueued++
		}
	}
	if enqueued >= n {
		t.Errorf("the journal holds %d enqueued records of %d delivered items; want it compacted", enqueued, n)
	}
	want := make(map[string]string)
	for _, id := range ids {
		_, ts, ok := o.TS(id)
		if !ok {
			t.Fatalf("TS(%s) unknown", id)
		}
		want[id] = ts
	}
	o2, err := delivery.Open(env.cfg, env.sender(t, nil))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer o2.Close()
	for id, ts := range want {
		if _, got, ok := o2.TS(id); !ok || got != ts {
			t.Errorf("after reopening, TS(%s) = %q, %v; want %q", id, got, ok, ts)
		}
	}
	if n := o2.Pending(); n != 0 {
		t.Errorf("after reopening, Pending() = %d; want 0", n)
	}
}

// TestOutboxEnqueue: Enqueue checks the item and is idempotent by ID.
func TestOutboxEnqueue(t *testing.T) {
	env := newOutboxEnv(t)
	o := env.open(t, env.sender(t, nil))
	for _, tt := range []struct {
		name string
		it   delivery.Item
	}{
		{"no ID", post("", "C0OPS", "x")},
		{"no channel", post("a", "", "x")},
		{"no payload", delivery.Item{ID: "a", Channel: "C0OPS", Op: delivery.OpPost}},
		{"payload not JSON", delivery.Item{ID: "a", Channel: "C0OPS", Op: delivery.OpPost, Payload: json.RawMessage(`{"text":`)}},
		{"unknown op", delivery.Item{ID: "a", Channel: "C0OPS", Op: "delete", Payload: payload("x", nil)}},
		{"update without ref", update("a", "", "C0OPS", "x")},
		{"reply to itself", reply("a", "a", "C0OPS", "x")},
	} {
		if err := o.Enqueue(tt.it); err == nil {
			t.Errorf("Enqueue(%s) = nil; want an error", tt.name)
		}
	}
	outboxEnqueue(t, o, post("a", "C0OPS", "first"), post("a", "C0OPS", "second"))
	if n := o.Pending(); n != 1 {
		t.Fatalf("Pending() = %d after enqueueing one ID twice; want 1", n)
	}
	outboxStart(t, o)
	outboxFlush(t, o)
	outboxEnqueue(t, o, post("a", "C0OPS", "third")) // delivered already: a no-op
	outboxFlush(t, o)
	if got := outboxDelivered(env.fake.Calls("chat.postMessage"), "chat.postMessage"); !slices.Equal(got, []string{"first"}) {
		t.Errorf("delivered %q; want [first]", got)
	}
}

// TestOutboxRunLeavesNoGoroutine: when Run returns its goroutines have
// ended, one backing off and one whose attempt was in flight; that attempt
// was let finish and recorded, so it is not sent again after a restart.
func TestOutboxRunLeavesNoGoroutine(t *testing.T) {
	env := newOutboxEnv(t)
	gate := &outboxGateSender{Sender: env.sender(t, nil), channel: "C0SLOW", entered: make(chan struct{}), release: make(chan struct{})}
	o := env.open(t, gate)
	env.fake.FailNext("chat.postMessage", fakeslack.Answer{Status: 500})
	outboxEnqueue(t, o, post("busy-1", "C0BUSY", "backing off"))

	ignore := goleak.IgnoreCurrent()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		o.Run(ctx)
	}()
	env.fake.WaitCalls(t, "chat.postMessage", 1, outboxWait)
	env.blockUntil(t, 1)
	outboxEnqueue(t, o, post("slow-1", "C0SLOW", "in flight"))
	select {
	case <-gate.entered:
	case <-time.After(outboxWait):
		t.Fatal("the attempt for C0SLOW did not start")
	}
	cancel()
	close(gate.release)
	select {
	case <-done:
	case <-time.After(outboxWait):
		t.Fatal("Run did not return")
	}
	// The fake is still up: its side of the idle keep-alive connection,
	// and the client's, are not the outbox's.
	goleak.VerifyNone(t, ignore,
		goleak.IgnoreAnyFunction("net/http.(*conn).serve"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"))

	if _, _, ok := o.TS("slow-1"); !ok {
		t.Error("TS(slow-1) unknown: the attempt in flight at the stop was not recorded")
	}
	if n := o.Pending(); n != 1 {
		t.Errorf("Pending() = %d; want 1 (busy-1)", n)
	}

	// Run again, in the same process: what was left is sent.
	outboxStart(t, o)
	outboxFlush(t, o)
	if got := outboxDelivered(env.fake.Calls("chat.postMessage"), "chat.postMessage"); !slices.Equal(got, []string{"in flight", "backing off"}) {
		t.Errorf("delivered %q; want [in flight, backing off]", got)
	}
}

// outboxReadJournal reads the journal as "rec id ..." strings.
func outboxReadJournal(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Errorf("the journal does not end with a newline")
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r struct {
			Rec, ID, TS string
			Code        string `json:"error"`
			Item        *struct{ ID string }
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("journal line %q: %v", sc.Text(), err)
		}
		switch r.Rec {
		case "delivered":
			out = append(out, r.Rec+" "+r.ID+" "+r.TS)
		case "dead":
			out = append(out, r.Rec+" "+r.Item.ID+" "+r.Code)
		default:
			out = append(out, r.Rec+" "+r.Item.ID)
		}
	}
	return out
}

// outboxLogs collects the outbox's JSON log lines.
type outboxLogs struct{ syncbuf.Buffer }

func (l *outboxLogs) entries(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(l.String()), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

// outboxTimedSender notes the clock's time of every attempt, then makes it
// with the real Sender.
type outboxTimedSender struct {
	delivery.Sender
	clock clockwork.Clock
	mu    sync.Mutex
	at    []time.Time
}

func (p *outboxTimedSender) Send(ctx context.Context, it delivery.Item, to delivery.Target) (string, string, error) {
	p.mu.Lock()
	p.at = append(p.at, p.clock.Now())
	p.mu.Unlock()
	return p.Sender.Send(ctx, it, to)
}

func (p *outboxTimedSender) times() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.at)
}

// outboxGateSender holds an attempt in channel until release is closed,
// after closing entered.
type outboxGateSender struct {
	delivery.Sender
	channel string
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (p *outboxGateSender) Send(ctx context.Context, it delivery.Item, to delivery.Target) (string, string, error) {
	if to.Channel == p.channel {
		p.once.Do(func() { close(p.entered) })
		<-p.release
	}
	return p.Sender.Send(ctx, it, to)
}

// outboxChannelRoute sends the Web API calls about channel to
// "<method>/<channel>" on the fake, so that FailNext can script the
// answers to that channel alone (the fake takes any path under /api/ as a
// method, and scripted answers come before it looks the method up).
type outboxChannelRoute struct {
	base    http.RoundTripper
	channel string
}

func (rt outboxChannelRoute) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil {
		return rt.base.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errors.Join(errors.New("outboxChannelRoute: not a form"), err)
	}
	r := req.Clone(req.Context())
	if form.Get("channel") == rt.channel {
		r.URL.Path += "/" + rt.channel
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return rt.base.RoundTrip(r)
}

// TestOutboxLogsDrops: nothing is skipped silently. An ID enqueued again
// (pending, delivered, dead), an item whose Ref is unknown or dead, and a
// dead letter are each logged with the item's ID and the reason; a dead
// letter at error level.
func TestOutboxLogsDrops(t *testing.T) {
	env := newOutboxEnv(t)
	o := env.open(t, env.sender(t, nil))
	outboxEnqueue(t, o, post("a", "C0OPS", "first"), post("a", "C0OPS", "again while pending"))
	outboxStart(t, o)
	outboxFlush(t, o)
	env.fake.FailNext("chat.postMessage", fakeslack.Answer{Error: "not_in_channel"})
	outboxEnqueue(t, o, post("d", "C0OPS", "refused"))
	outboxFlush(t, o)
	outboxEnqueue(t, o,
		post("a", "C0OPS", "again once delivered"),
		post("d", "C0OPS", "again once dead"),
		reply("to-dead", "d", "C0OPS", "a reply to a dead message"),
		update("to-unknown", "nothing", "C0OPS", "an update of an unknown message"))
	outboxFlush(t, o)

	logged := env.logs.entries(t)
	for _, tt := range []struct {
		name, level, item, want string
	}{
		{"duplicate of a pending item", "info", "a", "pending"},
		{"duplicate of a delivered item", "info", "a", "delivered"},
		{"duplicate of a dead item", "info", "d", "dead"},
		{"dead letter", "error", "d", "dead letter"},
		{"reply to a dead item", "warn", "to-dead", "dead (not_in_channel)"},
		{"update of an unknown item", "warn", "to-unknown", "unknown"},
	} {
		if !slices.ContainsFunc(logged, func(e map[string]any) bool {
			msg, _ := e["message"].(string)
			return e["level"] == tt.level && e["item"] == tt.item && strings.Contains(msg, tt.want)
		}) {
			t.Errorf("%s: no %s log line for item %s saying %q", tt.name, tt.level, tt.item, tt.want)
		}
	}
	if got, want := outboxDelivered(env.fake.Calls("chat.postMessage"), "chat.postMessage"),
		[]string{"first", "a reply to a dead message", "an update of an unknown message"}; !slices.Equal(got, want) {
		t.Errorf("delivered %q; want %q", got, want)
	}
	if dead := o.Dead(); len(dead) != 1 || dead[0].Item.ID != "d" || dead[0].Code != "not_in_channel" {
		t.Errorf("Dead() = %+v; want d with not_in_channel", dead)
	}
}
