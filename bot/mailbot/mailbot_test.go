package mailbot

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/alerts/alertstest"
	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/config"
	"github.com/sanasend/sanasend-bot/delivery"
	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/internal/syncbuf"
)

// fixture returns the alertstest case called name.
func fixture(t *testing.T, name string) alertstest.Case {
	t.Helper()
	for _, c := range alertstest.Cases() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no fixture %q", name)
	return alertstest.Case{}
}

// openMail opens the email side over srv with email, its outbox served
// until the test ends; every log line goes to the returned buffer, which
// must never hold the password (checked at cleanup).
func openMail(t *testing.T, email config.Email, tail LogTail, with ...func(*Config)) (*Mail, *syncbuf.Buffer) {
	t.Helper()
	logs := &syncbuf.Buffer{}
	cfg := Config{Email: email, StateDir: t.TempDir(), Host: testHost, Logger: zerolog.New(logs),
		Tail: tail, Timeout: 5 * time.Second, BackoffInitial: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond}
	for _, f := range with {
		f(&cfg)
	}
	m, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Outbox.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if strings.Contains(logs.String(), testPassword) {
			t.Errorf("the password is in the logs:\n%s", logs.String())
		}
	})
	return m, logs
}

func flush(t *testing.T, m *Mail) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Outbox.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// parts reads a received message: its header and its text and HTML parts,
// decoded.
func parts(t *testing.T, data string) (mail.Header, string, string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("the message does not parse: %v\n%s", err, data)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	var text, html string
	r := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p) // multipart decodes quoted-printable itself
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			text = string(b)
		case "text/html":
			html = string(b)
		}
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	msg.Header["Subject"] = []string{subject}
	return msg.Header, text, html
}

// An alert arrives at every recipient with the subject, the text and the
// HTML of its golden file; a kind not asked for sends nothing.
func TestAlertArrives(t *testing.T) {
	srv := newSMTPServer(t)
	tc := fixture(t, "alert-hostile-health")
	m, _ := openMail(t, srv.email(), func(service string) []string {
		return []string{"<script>alert(1)</script> in " + service}
	})
	if err := m.Notifier.Notify(fixture(t, "remind").Notice); err != nil { // not in kinds
		t.Fatal(err)
	}
	if err := m.Notifier.Notify(tc.Notice); err != nil {
		t.Fatal(err)
	}
	flush(t, m)
	got := srv.waitMessages(t, 1)
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1 (the reminder is not a kind asked for)", len(got))
	}
	msg := got[0]
	if msg.From != "bot@example.com" || !slices.Equal(msg.To, []string{"oncall@example.com", "ops@example.com"}) {
		t.Errorf("envelope from %q to %v", msg.From, msg.To)
	}
	h, text, html := parts(t, msg.Data)
	if s := h.Get("Subject"); s != "[sanasend] whatsapp is UNHEALTHY on web-1" {
		t.Errorf("Subject = %q", s)
	}
	if id := h.Get("Message-Id"); id != "<"+tc.Notice.ID+"@web-1.sanasend-bot>" {
		t.Errorf("Message-ID = %q", id)
	}
	line := bot.AlertLine(*tc.Notice.Incident, time.Now())
	head := line[:strings.Index(line, ", since")]
	if !strings.HasPrefix(text, head) || !strings.Contains(text, "<script>alert(1)</script> in whatsapp") {
		t.Errorf("text part:\n%s", text)
	}
	if !strings.Contains(html, "&lt;!channel&gt; db down &amp;") || !strings.Contains(html, "&lt;script&gt;alert(1)&lt;/script&gt; in whatsapp") ||
		strings.Contains(html, "<script>") || strings.Contains(html, "<!channel>") {
		t.Errorf("HTML part not escaped:\n%s", html)
	}
	if d := m.Outbox.Dead(); len(d) != 0 {
		t.Errorf("dead letters: %v", d)
	}
}

// The server refusing with 451 then accepting delivers the email once.
func TestTemporaryFailureThenDelivered(t *testing.T) {
	srv := newSMTPServer(t)
	srv.script([]error{smtpReply(451, "try again later"), smtpReply(421, "busy")}, nil)
	m, logs := openMail(t, srv.email(), nil)
	if err := m.Notifier.Notify(fixture(t, "alert-stopped").Notice); err != nil {
		t.Fatal(err)
	}
	// The same notice again (a replay) is not a second email.
	if err := m.Notifier.Notify(fixture(t, "alert-stopped").Notice); err != nil {
		t.Fatal(err)
	}
	flush(t, m)
	got := srv.waitMessages(t, 1)
	if len(got) != 1 {
		t.Errorf("%d messages, want exactly 1", len(got))
	}
	if d := m.Outbox.Dead(); len(d) != 0 {
		t.Errorf("dead letters: %v", d)
	}
	if n := strings.Count(logs.String(), "will retry"); n != 2 {
		t.Errorf("%d retries logged, want 2:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "451") {
		t.Errorf("the log does not say 451:\n%s", logs.String())
	}
}

// 550 is a dead letter: not retried, recorded with its code, and the next
// email still goes.
func TestPermanentFailureIsDeadLetter(t *testing.T) {
	srv := newSMTPServer(t)
	srv.script([]error{smtpReply(550, "message refused")}, nil)
	m, logs := openMail(t, srv.email(), nil)
	alert, resolved := fixture(t, "alert-stopped").Notice, fixture(t, "resolve-healed").Notice
	for _, n := range []alerts.Notice{alert, resolved} {
		if err := m.Notifier.Notify(n); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, m)
	got := srv.waitMessages(t, 1)
	dead := m.Outbox.Dead()
	if len(dead) != 1 || dead[0].Item.ID != alert.ID || dead[0].Code != "smtp_550" {
		t.Fatalf("dead letters = %+v, want the alert with smtp_550", dead)
	}
	if len(got) != 1 || !strings.Contains(got[0].Data, "Message-ID: <"+resolved.ID+"@") {
		t.Errorf("the resolution was not delivered after the dead letter: %d messages", len(got))
	}
	if strings.Contains(logs.String(), "will retry") {
		t.Errorf("a 550 was retried:\n%s", logs.String())
	}
}

// A wrong password: Check fails saying so, sending fails for good, and the
// password the server quotes back is in no error and no log line.
func TestWrongPassword(t *testing.T) {
	srv := newSMTPServer(t)
	email := srv.email()
	email.Password = testPassword + "-wrong"
	m, logs := openMail(t, email, nil)
	err := m.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), `refused the login of "sanasend-bot"`) || !strings.Contains(err.Error(), "535") {
		t.Errorf("Check = %v, want the login refused with 535", err)
	}
	if err != nil && (strings.Contains(err.Error(), testPassword) || !strings.Contains(err.Error(), "(password hidden)")) {
		t.Errorf("Check's error shows the password, or the server's echo was not hidden: %v", err)
	}
	if err := m.Notifier.Notify(fixture(t, "alert-stopped").Notice); err != nil {
		t.Fatal(err)
	}
	flush(t, m)
	if d := m.Outbox.Dead(); len(d) != 1 || d[0].Code != "smtp_535" {
		t.Errorf("dead letters = %+v, want one smtp_535", d)
	}
	if !strings.Contains(logs.String(), "(password hidden)") {
		t.Errorf("the log does not show the refusal:\n%s", logs.String())
	}
	if len(srv.messages()) != 0 {
		t.Error("a message went through with a wrong password")
	}
}

// Check logs in and sends nothing; it names what fails: no server, no TLS.
func TestCheck(t *testing.T) {
	srv := newSMTPServer(t)
	s, err := NewSender(SenderConfig{Email: srv.email(), HELO: testHost, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(context.Background()); err != nil {
		t.Fatalf("Check = %v", err)
	}
	srv.mu.Lock()
	logins := srv.logins
	srv.mu.Unlock()
	if logins != 1 || len(srv.messages()) != 0 {
		t.Errorf("Check logged in %d times and sent %d messages, want 1 and 0", logins, len(srv.messages()))
	}

	tlsOnly := srv.email()
	tlsOnly.TLS = config.EmailTLSMandatory
	s, err = NewSender(SenderConfig{Email: tlsOnly, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "no TLS with 127.0.0.1:") {
		t.Errorf("Check with TLS mandatory on a server without STARTTLS = %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := srv.email()
	closed.Port = ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	s, err = NewSender(SenderConfig{Email: closed, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "cannot connect to 127.0.0.1:"+strconv.Itoa(closed.Port)) {
		t.Errorf("Check with no server = %v", err)
	}
}

// Without TLS the password goes to this host only: to another (127.0.0.2
// stands for one), the login is not attempted and Check says why.
func TestNoPasswordInClear(t *testing.T) {
	srv := newSMTPServerOn(t, "127.0.0.2:0")
	email := srv.email()
	email.Host = "127.0.0.2"
	email.TLS = config.EmailTLSOpportunistic
	s, err := NewSender(SenderConfig{Email: email, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no safe way to log in to 127.0.0.2:") {
		t.Errorf("Check = %v, want the login refused for want of TLS", err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.logins != 0 {
		t.Errorf("%d logins in clear", srv.logins)
	}
}

// A network failure is retried, not a dead letter.
func TestNetworkFailureRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	email := (&smtpServer{port: ln.Addr().(*net.TCPAddr).Port}).email()
	_ = ln.Close()
	s, err := NewSender(SenderConfig{Email: email, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := Render(fixture(t, "alert-stopped").Notice, alertstest.Now, testHost, nil).encode()
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Send(context.Background(), delivery.Item{ID: "x", Channel: Channel, Op: delivery.OpPost, Payload: payload},
		delivery.Target{Op: delivery.OpPost, Channel: Channel})
	var re *delivery.RetryError
	if !errors.As(err, &re) {
		t.Errorf("Send to no server = %v, want a retry", err)
	}
}

func TestNewNotifierValidates(t *testing.T) {
	good := (&smtpServer{port: 25}).email()
	bad := good
	bad.To = nil
	q := queueFunc(func(delivery.Item) error { return nil })
	if _, err := NewNotifier(NotifierConfig{Email: good, Queue: q, Clock: nil, Host: testHost}); err == nil {
		t.Error("NewNotifier without a clock accepted")
	}
	if _, err := NewNotifier(NotifierConfig{Email: bad, Queue: q, Clock: clockwork.NewFakeClock(), Host: testHost}); err == nil || !strings.Contains(err.Error(), "notify.email.to") {
		t.Errorf("NewNotifier without recipients = %v", err)
	}
	if _, err := NewNotifier(NotifierConfig{Email: good, Queue: q, Clock: clockwork.NewFakeClock(), Host: testHost}); err != nil {
		t.Errorf("NewNotifier = %v", err)
	}
	if _, err := NewSender(SenderConfig{Email: bad}); err == nil || !strings.Contains(err.Error(), "notify.email.to") {
		t.Errorf("NewSender without recipients = %v", err)
	}
	if _, err := NewSender(SenderConfig{Email: good}); err != nil {
		t.Errorf("NewSender = %v", err)
	}
}

type queueFunc func(delivery.Item) error

func (f queueFunc) Enqueue(it delivery.Item) error { return f(it) }

// An email enqueued before a restart is sent by the next process, once:
// the email outbox has its own journal in the state dir, apart from
// Slack's.
func TestQueuedAcrossRestart(t *testing.T) {
	srv := newSMTPServer(t)
	dir := t.TempDir()
	cfg := Config{Email: srv.email(), StateDir: dir, Host: testHost, Logger: zerolog.Nop(), Timeout: 5 * time.Second,
		BackoffInitial: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond}
	first, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	alert := fixture(t, "alert-stopped").Notice
	if err := first.Notifier.Notify(alert); err != nil {
		t.Fatal(err)
	}
	if err := first.Outbox.Close(); err != nil { // the process ends before Serve sent it
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "email", "outbox.jsonl")); err != nil {
		t.Fatalf("no email journal: %v", err)
	}

	second, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n := second.Outbox.Pending(); n != 1 {
		t.Fatalf("%d pending after the restart, want 1", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- second.Outbox.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	if err := second.Notifier.Notify(alert); err != nil { // replayed by the monitor: still one email
		t.Fatal(err)
	}
	flush(t, second)
	if got := srv.waitMessages(t, 1); len(got) != 1 {
		t.Errorf("%d messages, want 1", len(got))
	}
}

// A recipient refused for good (550 at RCPT) is a dead letter too; one
// refused for now (450) is retried and then delivered.
func TestRecipientRefused(t *testing.T) {
	tests := []struct {
		name     string
		rcpt     []error
		dead     string
		messages int
	}{
		{"550", []error{smtpReply(550, "no such user")}, "smtp_550", 0},
		{"450", []error{smtpReply(450, "mailbox busy")}, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSMTPServer(t)
			srv.script(nil, tt.rcpt)
			m, _ := openMail(t, srv.email(), nil)
			if err := m.Notifier.Notify(fixture(t, "alert-stopped").Notice); err != nil {
				t.Fatal(err)
			}
			flush(t, m)
			dead := m.Outbox.Dead()
			switch {
			case tt.dead == "" && len(dead) != 0, tt.dead != "" && (len(dead) != 1 || dead[0].Code != tt.dead):
				t.Errorf("dead letters = %+v, want %q", dead, tt.dead)
			}
			if got := len(srv.messages()); got != tt.messages {
				t.Errorf("%d messages, want %d", got, tt.messages)
			}
		})
	}
}

// weeklyCharts draws a PNG-like file of binary bytes (invalid UTF-8, as a
// real PNG has) per service, or fails for the services in fail.
type weeklyCharts struct{ fail map[string]bool }

func weeklyPNG(service string) []byte {
	b := []byte("\x89PNG\r\n\x1a\n" + service)
	for i := range 256 {
		b = append(b, byte(i))
	}
	return b
}

func (c weeklyCharts) RenderUptime(r history.Report, _ *time.Location) ([]byte, error) {
	if c.fail[r.Service] {
		return nil, errors.New("no font")
	}
	return weeklyPNG(r.Service), nil
}

// The weekly digest arrives with a PNG chart attached per service whose
// report it has, byte for byte through the outbox's JSON; the services
// without one (no report, a chart that failed) are named in the text and
// the failure is logged.
func TestWeeklyDigestChartsAttached(t *testing.T) {
	srv := newSMTPServer(t)
	tc := fixture(t, "weekly-digest")
	if len(tc.Notice.Weekly.Reports) == 0 {
		t.Fatal("the fixture has no reports")
	}
	// A service whose chart fails, last by name.
	const failing = "zz-failing"
	d, w := *tc.Notice.Digest, *tc.Notice.Weekly
	d.Services = append(slices.Clone(d.Services), alerts.ServiceDigest{Service: failing, UptimePercent: 100, Known: time.Hour})
	w.Reports = append(slices.Clone(w.Reports), history.Report{Service: failing, From: d.From, To: d.To, Bucket: 24 * time.Hour})
	tc.Notice.Digest, tc.Notice.Weekly = &d, &w
	drawn := w.Reports[:len(w.Reports)-1]
	m, logs := openMail(t, srv.email(), nil, func(c *Config) { c.Charts = weeklyCharts{fail: map[string]bool{failing: true}} })
	if err := m.Notifier.Notify(tc.Notice); err != nil {
		t.Fatal(err)
	}
	flush(t, m)
	got := srv.waitMessages(t, 1)

	msg, err := mail.ReadMessage(strings.NewReader(got[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("Content-Type %q (%v), want multipart/mixed", msg.Header.Get("Content-Type"), err)
	}
	files := map[string][]byte{}
	var text string
	r := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		ct, cp, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch ct {
		case "multipart/alternative":
			_, text, _ = parts(t, "Content-Type: "+p.Header.Get("Content-Type")+"\r\nSubject: x\r\n\r\n"+string(b))
		case "image/png":
			if p.Header.Get("Content-Transfer-Encoding") != "base64" {
				t.Errorf("%s: Content-Transfer-Encoding %q", p.FileName(), p.Header.Get("Content-Transfer-Encoding"))
			}
			data, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(b)))
			if err != nil {
				t.Fatalf("%s: %v", p.FileName(), err)
			}
			files[p.FileName()] = data
		default:
			t.Errorf("unexpected part %q %v", ct, cp)
		}
	}
	var want []string
	for _, rep := range drawn {
		name := rep.Service + "-uptime-week.png"
		want = append(want, name)
		if !bytes.Equal(files[name], weeklyPNG(rep.Service)) {
			t.Errorf("%s: %d bytes arrived, not the chart's %d", name, len(files[name]), len(weeklyPNG(rep.Service)))
		}
	}
	if len(files) != len(want) {
		t.Errorf("attachments %v, want %v", slices.Sorted(maps.Keys(files)), want)
	}
	// The fixture's "quiet" service has no report.
	if line := bot.WeeklyNoChartLine([]string{"quiet", failing}); !strings.Contains(text, line) {
		t.Errorf("the text does not say %q:\n%s", line, text)
	}
	if !strings.Contains(logs.String(), "chart not drawn") || !strings.Contains(logs.String(), failing) {
		t.Errorf("the failed chart is not logged:\n%s", logs.String())
	}
}
