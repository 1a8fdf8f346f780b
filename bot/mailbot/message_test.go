package mailbot

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/alerts/alertstest"
	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/config"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const testHost = "web-1"

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if got != string(want) {
		t.Errorf("%s: got\n%s\nwant\n%s", name, got, want)
	}
}

// show is an email as its golden file holds it.
func (e Email) show() string {
	var b strings.Builder
	b.WriteString("Subject: " + e.Subject + "\n")
	b.WriteString("Message-ID: <" + e.MessageID + ">\n")
	if e.InReplyTo != "" {
		b.WriteString("In-Reply-To: <" + e.InReplyTo + ">\n")
	}
	b.WriteString("\n===== text/plain =====\n" + e.Text + "===== text/html =====\n" + e.HTML)
	return b.String()
}

// Every notice of a kind sent by email, from the fixtures every renderer
// of the alert path is tested with; the others are not emails.
func TestRenderGolden(t *testing.T) {
	emailed := 0
	for _, tc := range alertstest.Cases() {
		kind := Kind(tc.Notice)
		if kind == "" {
			continue
		}
		emailed++
		t.Run(tc.Name, func(t *testing.T) {
			golden(t, tc.Name, Render(tc.Notice, alertstest.Now, testHost, tc.ErrorLines).show())
		})
	}
	if emailed < 15 {
		t.Errorf("only %d fixtures are emails", emailed)
	}
}

func TestKind(t *testing.T) {
	want := map[string]string{
		"alert-stopped": config.EmailKindAlert, "give-up": config.EmailKindAlert,
		"resolve-healed": config.EmailKindResolved, "remind": config.EmailKindReminder,
		"digest": config.EmailKindDigest, "restoration-ok": config.EmailKindRestoration,
		"maintenance-on": config.EmailKindMaintenance, "maintenance-ended": config.EmailKindMaintenance,
		"update-acked": "", "auto-restart": "", "announce-stop": "", "maintenance-none": "",
	}
	seen := 0
	for _, tc := range alertstest.Cases() {
		w, ok := want[tc.Name]
		if !ok {
			continue
		}
		seen++
		if got := Kind(tc.Notice); got != w {
			t.Errorf("Kind(%s) = %q, want %q", tc.Name, got, w)
		}
	}
	if seen != len(want) {
		t.Errorf("found %d of the %d fixtures named", seen, len(want))
	}
}

// The subject says service, state and host; the body is package bot's
// sentence.
func TestRenderAlert(t *testing.T) {
	var tc alertstest.Case
	for _, c := range alertstest.Cases() {
		if c.Name == "alert-stopped" {
			tc = c
		}
	}
	e := Render(tc.Notice, alertstest.Now, testHost, nil)
	if e.Subject != "[sanasend] whatsapp is STOPPED on web-1" {
		t.Errorf("subject = %q", e.Subject)
	}
	line := bot.AlertLine(*tc.Notice.Incident, alertstest.Now)
	if !strings.HasPrefix(e.Text, line+"\n") || !strings.Contains(e.HTML, "<strong>"+line+"</strong>") {
		t.Errorf("the body does not lead with %q:\n%s\n%s", line, e.Text, e.HTML)
	}
	if e.MessageID != tc.Notice.ID+"@web-1.sanasend-bot" {
		t.Errorf("Message-ID = %q", e.MessageID)
	}
}

// Outside text (health reasons, log lines, session causes, names) is
// escaped in HTML and never breaks a header, at its worst and its longest.
func TestRenderHostile(t *testing.T) {
	cases := append(alertstest.WorstCases(), alertstest.Cases()...)
	for _, tc := range cases {
		if Kind(tc.Notice) == "" {
			continue
		}
		t.Run(tc.Name, func(t *testing.T) {
			host := "web-1\r\nBcc: victim@example.com"
			e := Render(tc.Notice, alertstest.Now, host, tc.ErrorLines)
			for _, bad := range []string{"<!channel>", "<!here>", "<@U0BOB>", "<https://", "\x1b"} {
				if strings.Contains(e.HTML, bad) {
					t.Errorf("HTML holds %q unescaped", bad)
				}
			}
			if strings.ContainsAny(e.Subject, "\r\n") || strings.ContainsAny(e.MessageID, "\r\n <>") || strings.ContainsAny(e.InReplyTo, "\r\n <>") {
				t.Errorf("a header breaks: %q %q %q", e.Subject, e.MessageID, e.InReplyTo)
			}
			if n := len([]rune(e.Subject)); n > subjectRunes {
				t.Errorf("subject of %d runes", n)
			}
			if len(e.Text) > 4<<20 || len(e.HTML) > 6<<20 {
				t.Errorf("email of %d + %d bytes", len(e.Text), len(e.HTML))
			}
		})
	}
	var hostile alertstest.Case
	for _, c := range alertstest.Cases() {
		if c.Name == "alert-hostile-health" {
			hostile = c
		}
	}
	e := Render(hostile.Notice, alertstest.Now, testHost, []string{`<script>alert(1)</script> & "quotes"`})
	for _, want := range []string{"&lt;!channel&gt;", "&amp;", "&lt;script&gt;alert(1)&lt;/script&gt;"} {
		if !strings.Contains(e.HTML, want) {
			t.Errorf("HTML lacks %q:\n%s", want, e.HTML)
		}
	}
	if !strings.Contains(e.Text, "<!channel>") {
		t.Errorf("the plain text is not the text as it is:\n%s", e.Text)
	}
}

// A resolution threads under its alert.
func TestRenderThreads(t *testing.T) {
	var open, resolved alerts.Notice
	for _, c := range alertstest.Cases() {
		switch c.Name {
		case "alert-stopped":
			open = c.Notice
		case "resolve-healed":
			resolved = c.Notice
		}
	}
	a, r := Render(open, alertstest.Now, testHost, nil), Render(resolved, alertstest.Now, testHost, nil)
	if r.InReplyTo != a.MessageID || r.MessageID == a.MessageID {
		t.Errorf("resolution %q in reply to %q, want %q", r.MessageID, r.InReplyTo, a.MessageID)
	}
}
