package slackbot

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/alerts/alertstest"
	"github.com/sanasend/sanasend-bot/delivery"
	"github.com/sanasend/sanasend-bot/internal/fakeslack"
)

// alertsQueue records what the notifier enqueues.
type alertsQueue struct {
	mu    sync.Mutex
	items []delivery.Item
}

func (q *alertsQueue) Enqueue(it delivery.Item) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items = append(q.items, it)
	return nil
}

type alertsTokens struct {
	mu    sync.Mutex
	ended []string
}

func (*alertsTokens) AlertToken(alertID, service string) string { return "tok-" + service }

func (k *alertsTokens) EndAlert(alertID string) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ended = append(k.ended, alertID)
	return 1, nil
}

// alertsNotifier is a notifier on a fake clock at alertstest.Now whose log
// tail gives lines.
func alertsNotifier(t *testing.T, lines []string) (*AlertNotifier, *alertsQueue) {
	t.Helper()
	q := &alertsQueue{}
	n, err := NewAlertNotifier(AlertNotifierConfig{Channel: "C0ALERTS", Queue: q, Clock: clockwork.NewFakeClockAt(alertstest.Now),
		Tokens: &alertsTokens{}, Tail: func(string) []string { return lines }, Charts: weeklyCharts{}})
	if err != nil {
		t.Fatal(err)
	}
	return n, q
}

// alertsGolden compares the messages of one notice with
// testdata/TestAlertMessages_<name>.golden.json.
func alertsGolden(t *testing.T, posts []alertPost) {
	t.Helper()
	var b bytes.Buffer
	for _, p := range posts {
		b.WriteString("// " + string(p.Op) + " " + p.ID)
		if p.Ref != "" {
			b.WriteString(" ref " + p.Ref)
		}
		b.WriteString("\n")
		b.Write(blocksGoldenJSON(t, p.Message))
	}
	path := filepath.Join("testdata", strings.ReplaceAll(t.Name(), "/", "_")+".golden.json")
	if blocksUpdating() {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("%s: got\n%s\nwant\n%s", path, b.Bytes(), want)
	}
}

// TestAlertMessages: every alert, update, reminder, resolution,
// announcement, maintenance message, restoration summary and digest, as
// the notifier posts it (golden files).
func TestAlertMessages(t *testing.T) {
	for _, tc := range alertstest.Cases() {
		t.Run(tc.Name, func(t *testing.T) {
			n, _ := alertsNotifier(t, tc.ErrorLines)
			if tc.Notice.Ref != "" {
				// The alert was posted first, with its error lines.
				n.seen(tc.Notice.Ref, tc.Notice.Service, true)
			}
			posts := n.posts(tc.Notice)
			alertsGolden(t, posts)
			for _, p := range posts {
				alertsCheckLimits(t, p)
			}
		})
	}
}

// TestAlertMessagesWorstCase: 1,000 error lines of 2,000 bytes, 500
// failed sessions, 300 services, emoji, &-heavy text and <!channel>
// everywhere: every message keeps within Slack's limits, counted on the
// JSON as Slack counts, pings nobody, and an open alert keeps its buttons.
func TestAlertMessagesWorstCase(t *testing.T) {
	for _, tc := range alertstest.WorstCases() {
		t.Run(tc.Name, func(t *testing.T) {
			n, _ := alertsNotifier(t, tc.ErrorLines)
			if tc.Notice.Ref != "" {
				n.seen(tc.Notice.Ref, tc.Notice.Service, true)
			}
			posts := n.posts(tc.Notice)
			for _, p := range posts {
				alertsCheckLimits(t, p)
			}
			if tc.Notice.Restoration != nil {
				if len(posts) != 2 || posts[1].Op != delivery.OpFile || posts[1].Message.Upload == nil {
					t.Fatalf("posts = %+v; want the summary and a file", posts)
				}
				if got, want := strings.Count(posts[1].Message.Upload.Content, "\n"), 500; got != want {
					t.Errorf("the file lists %d sessions; want %d", got, want)
				}
			}
		})
	}
}

// alertsCheckLimits checks a post's message as Slack receives it: the
// JSON of its blocks and its top-level text.
func alertsCheckLimits(t *testing.T, p alertPost) {
	t.Helper()
	m := p.Message
	if p.Op == delivery.OpFile {
		return
	}
	if n := blocksLen(m.Text); n > 40000 || n == 0 {
		t.Errorf("%s: top-level text is %d characters; want 1..40000", p.ID, n)
	}
	if strings.Contains(m.Text, "<!") || strings.Contains(m.Text, "<@") || strings.Contains(m.Text, "<http") {
		t.Errorf("%s: top-level text has an unescaped mention or link: %q", p.ID, blocksCut(m.Text, 200))
	}
	data, err := json.Marshal(m.Blocks)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []map[string]any
	if err := json.Unmarshal(data, &blocks); err != nil {
		t.Fatal(err)
	}
	if len(blocks) > 50 {
		t.Errorf("%s: %d blocks; want at most 50", p.ID, len(blocks))
	}
	text := func(v any) string {
		o, _ := v.(map[string]any)
		s, _ := o["text"].(string)
		return s
	}
	check := func(what, s string, limit int) {
		if n := blocksLen(s); n > limit {
			t.Errorf("%s: %s is %d characters; want at most %d", p.ID, what, n, limit)
		}
		for _, bad := range []string{"<!", "<http"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s: %s has %q unescaped: %q", p.ID, what, bad, blocksCut(s, 200))
			}
		}
	}
	buttons := 0
	for _, b := range blocks {
		switch b["type"] {
		case "section":
			check("section text", text(b["text"]), 3000)
			fields, _ := b["fields"].([]any)
			for _, f := range fields {
				check("field", text(f), 2000)
			}
		case "header":
			check("header", text(b["text"]), 150)
		case "context":
			els, _ := b["elements"].([]any)
			for _, e := range els {
				check("context", text(e), 3000)
			}
		case "actions":
			els, _ := b["elements"].([]any)
			buttons += len(els)
			if id, _ := b["block_id"].(string); len(id) > 255 {
				t.Errorf("%s: block_id %q is too long", p.ID, id)
			}
		}
	}
	if (p.Op == delivery.OpPost || p.Op == delivery.OpUpdate) && (strings.HasPrefix(m.Text, "🔴") || strings.HasPrefix(m.Text, "🟡")) {
		if buttons < 2 {
			t.Errorf("%s: an open alert has %d buttons; want Restart, Logs and Acknowledge", p.ID, buttons)
		}
	}
}

// TestAlertKeepsButtonsWithLongErrorLines: issue 8, section 3 item 1. Five
// error lines of 600+ bytes made a 10,024-character section; Slack refused
// the blocks and the alert lost its buttons.
func TestAlertKeepsButtonsWithLongErrorLines(t *testing.T) {
	line := `{"level":"error","msg":"Protocol error","stack":"` + strings.Repeat("at CDPSession.send (/srv/wa/node_modules/x.js:316:35) ", 12) + `"}`
	lines := []string{line, line, line, line, line}
	inc := alertstest.Cases()[0].Notice.Incident
	m := AlertMessage(*inc, alertstest.Now, "tok", lines, "whatsapp-incident-1")
	alertsCheckLimits(t, alertPost{ID: "alert", Op: delivery.OpPost, Message: m})
	last := m.Blocks[len(m.Blocks)-1]
	if last.BlockType() != "actions" {
		t.Fatalf("last block is %s; want the buttons", last.BlockType())
	}
}

// TestAlertUpdatesHaveFreshBlockIDs: issue 8, section 3 item 10. Each edit
// of an alert carries its own block_id; a replay of the same notice the
// same one.
func TestAlertUpdatesHaveFreshBlockIDs(t *testing.T) {
	n, _ := alertsNotifier(t, nil)
	var update alerts.Notice
	for _, tc := range alertstest.Cases() {
		if tc.Name == "update-state-changed" {
			update = tc.Notice
		}
	}
	blockID := func(no alerts.Notice) string {
		for _, p := range n.posts(no) {
			if p.Op == delivery.OpUpdate {
				data, _ := json.Marshal(p.Message.Blocks)
				var bs []map[string]any
				_ = json.Unmarshal(data, &bs)
				for _, b := range bs {
					if b["type"] == "actions" {
						id, _ := b["block_id"].(string)
						return id
					}
				}
			}
		}
		t.Fatal("no edit with buttons")
		return ""
	}
	first := blockID(update)
	again := blockID(update)
	second := update
	second.ID += "-2"
	if first == "" || first != again || first == blockID(second) {
		t.Errorf("block_ids: first %q, replay %q, next edit %q; want the next edit's new, the replay's the same", first, again, blockID(second))
	}
}

// TestAlertNotifierEnqueues: an alert is posted; an update is a reply in
// its thread and an edit of it, both on the alerts channel.
func TestAlertNotifierEnqueues(t *testing.T) {
	n, q := alertsNotifier(t, nil)
	cases := alertstest.Cases()
	for _, no := range []alerts.Notice{cases[0].Notice, cases[3].Notice} {
		if err := n.Notify(no); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, it := range q.items {
		var p Payload
		if err := json.Unmarshal(it.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if it.Channel != "C0ALERTS" || p.Text == "" || len(p.Blocks) == 0 {
			t.Errorf("item %+v; want the alerts channel, a text and blocks", it)
		}
		got = append(got, string(it.Op)+" "+it.ID+" "+it.Ref)
	}
	want := []string{"post whatsapp-incident-1 ", "reply whatsapp-incident-1-update-acked whatsapp-incident-1",
		"update whatsapp-incident-1-update-acked-edit whatsapp-incident-1"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("items =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestAlertNotifierEndsTokensOnResolution: a resolved alert's Restart
// token ends with it; updates of an open alert leave it alive.
func TestAlertNotifierEndsTokensOnResolution(t *testing.T) {
	tokens := &alertsTokens{}
	n, err := NewAlertNotifier(AlertNotifierConfig{Channel: "C0ALERTS", Queue: &alertsQueue{},
		Clock: clockwork.NewFakeClockAt(alertstest.Now), Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]alerts.Notice{}
	for _, c := range alertstest.Cases() {
		byName[c.Name] = c.Notice
	}
	for _, name := range []string{"alert-stopped", "update-state-changed", "resolve-healed"} {
		if err := n.Notify(byName[name]); err != nil {
			t.Fatal(err)
		}
		if name != "resolve-healed" && len(tokens.ended) > 0 {
			t.Fatalf("after %s the alert's tokens ended: %v", name, tokens.ended)
		}
	}
	if want := byName["resolve-healed"].Ref; len(tokens.ended) != 1 || tokens.ended[0] != want {
		t.Errorf("ended %v after the resolution; want [%s]", tokens.ended, want)
	}
}

func TestNewAlertNotifierValidates(t *testing.T) {
	clock := clockwork.NewFakeClock()
	for _, cfg := range []AlertNotifierConfig{
		{Queue: &alertsQueue{}, Clock: clock},
		{Channel: "C0ALERTS", Clock: clock},
		{Channel: "C0ALERTS", Queue: &alertsQueue{}},
	} {
		if _, err := NewAlertNotifier(cfg); err == nil {
			t.Errorf("NewAlertNotifier(%+v) = nil error; want one", cfg)
		}
	}
}

// alertsLimitsCases are the alert path's rows of limitsCases: every
// message the alert notifier posts for every notice, ordinary and worst
// case, with hostile error lines on every alert.
func alertsLimitsCases() []limitsCase {
	var out []limitsCase
	for _, tc := range append(alertstest.Cases(), alertstest.WorstCases()...) {
		lines := tc.ErrorLines
		if lines == nil {
			lines = limitsLines(1000, 2000)
		}
		n, err := NewAlertNotifier(AlertNotifierConfig{Channel: "C0ALERTS", Queue: &alertsQueue{}, Clock: clockwork.NewFakeClockAt(alertstest.Now),
			Tokens: &alertsTokens{}, Tail: func(string) []string { return lines }, Charts: weeklyCharts{}})
		if err != nil {
			panic(err)
		}
		if tc.Notice.Ref != "" {
			n.seen(tc.Notice.Ref, tc.Notice.Service, true)
		}
		for _, p := range n.posts(tc.Notice) {
			if p.Op == delivery.OpFile {
				continue
			}
			m := p.Message
			out = append(out, limitsCase{"alert-" + tc.Name + "-" + string(p.Op), func() Message { return m }})
		}
	}
	return out
}

// TestAlertNotifierThroughTheOutbox: issue 8, section 3 items 1 and 3, end
// to end on the real outbox and Slack sender against the fake Web API. A
// restoration of 500 sessions is a capped summary with the full list as a
// file in its thread; an alert with 1,000 error lines of 2,000 bytes is
// accepted with its blocks (no fallback to text: it keeps its buttons).
func TestAlertNotifierThroughTheOutbox(t *testing.T) {
	fake := fakeslack.New(t)
	outbox, err := delivery.Open(delivery.Config{Dir: t.TempDir(), Logger: zerolog.Nop()}, outboundSender(t, fake))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); outbox.Run(ctx) }()
	defer func() {
		cancel()
		<-done
		if err := outbox.Close(); err != nil {
			t.Error(err)
		}
	}()
	worst := alertstest.WorstCases()
	n, err := NewAlertNotifier(AlertNotifierConfig{Channel: "C0ALERTS", Queue: outbox, Clock: clockwork.NewFakeClockAt(alertstest.Now),
		Tokens: &alertsTokens{}, Tail: func(string) []string { return worst[0].ErrorLines }})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range worst[:3] { // the alert, an update of it, the restoration
		if err := n.Notify(tc.Notice); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for outbox.Pending() > 0 || len(fake.Uploads()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("outbox still has %d items; uploads %d", outbox.Pending(), len(fake.Uploads()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if dead := outbox.Dead(); len(dead) != 0 {
		t.Fatalf("dead letters: %+v", dead)
	}
	for _, c := range fake.Calls("chat.postMessage") {
		if c.Error != "" || c.Param("blocks") == "" {
			t.Errorf("post %q answered %q with blocks %d bytes; want accepted with its blocks", blocksCut(c.Param("text"), 60), c.Error, len(c.Param("blocks")))
		}
	}
	_, summaryTS, _ := outbox.TS(worst[2].Notice.ID)
	for _, c := range fake.Calls("chat.update") {
		if c.Error != "" || !strings.Contains(c.Param("blocks"), ActionAck) {
			t.Errorf("update answered %q; want accepted, with the buttons", c.Error)
		}
	}
	ups := fake.Uploads()
	if len(ups) != 1 || summaryTS == "" || ups[0].ThreadTS != summaryTS || strings.Count(string(ups[0].Content), "\n") != 500 {
		t.Errorf("uploads = %+v (summary ts %q); want one file of the 500 sessions in the summary's thread", ups, summaryTS)
	}
}
