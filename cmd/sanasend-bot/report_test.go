//go:build !windows

package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/internal/fakeslack"

	"github.com/sanasend/sanasend-bot/bot"
)

// TestUptimeAndIncidentsFromSlack: after an outage on the real stand-in
// (killed, alerted, started again from Slack, resolved), `/sanasend
// incidents` lists it with its cause and who resolved it, and `/sanasend
// uptime` answers a percentage below 100 with the stopped time in it.
func TestUptimeAndIncidentsFromSlack(t *testing.T) {
	f, start := restartableServe(t, 0, "monitor:\n  interval: 1s\n  timeout: 2s\n  failure_threshold: 1\n  restoration_timeout: 20s\n")
	start()
	procs := startFromSlack(t, f)
	waitAlertsChannel(t, f.fake, "session restoration", 30*time.Second)
	killed := time.Now()
	if err := syscall.Kill(-int(procs[0].PGID), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The bot's first checks saw the service stopped before its first
	// start: that was an incident too. Wait for the kill's.
	waitAlertSince(t, f.fake, "killed by SIGKILL", killed, 10*time.Second)
	startFromSlack(t, f)
	waitAlertSince(t, f.fake, "resolved after", killed, 20*time.Second)

	// The history is written behind the alerts, by its own goroutine: ask
	// until the answer has caught up, within a deadline.
	ask := func(text string, done func(answer string) bool) string {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			got := slash(t, f, text)
			if done(got) {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("/sanasend %s answered %q", text, got)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	incidents := ask("incidents", func(s string) bool { return strings.Contains(s, "killed by SIGKILL; resolved by") })
	if !strings.Contains(incidents, "whatsapp: the last incident") && !strings.Contains(incidents, "incident recorded") &&
		!strings.Contains(incidents, "incidents recorded") {
		t.Errorf("incidents headline: %q", incidents)
	}
	if !strings.Contains(incidents, "killed by SIGKILL") || !strings.Contains(incidents, "resolved by u0alice") {
		t.Errorf("incidents = %q; want the kill, its cause and alice's start resolving it", incidents)
	}

	percent := regexp.MustCompile(`whatsapp, last 24 hours: ([0-9.]+)% up`)
	uptime := ask("uptime", func(s string) bool { return percent.MatchString(s) && !strings.Contains(s, "*stopped*\\nnone") })
	p, err := strconv.ParseFloat(percent.FindStringSubmatch(uptime)[1], 64)
	if err != nil || p >= 100 || p <= 0 {
		t.Errorf("uptime %v%% (%v); want between 0 and 100: %s", p, err, uptime)
	}
	for _, want := range []string{"*incidents*", "*MTTR*", "*restarts*", "*unknown*"} {
		if !strings.Contains(uptime, want) {
			t.Errorf("uptime answer has no %s: %s", want, uptime)
		}
	}
	// Its chart, a PNG, as a file in Slack.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var chart *fakeslack.Upload
		for _, u := range f.fake.Uploads() {
			if strings.HasSuffix(u.Filename, ".png") {
				chart = &u
			}
		}
		if chart != nil {
			img, err := png.Decode(bytes.NewReader(chart.Content))
			if err != nil || img.Bounds().Dx() != 1200 || img.Bounds().Dy() != 500 {
				t.Errorf("chart %s: %v, %v; want a 1200x500 PNG", chart.Filename, err, img)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no PNG chart uploaded; uploads: %d", len(f.fake.Uploads()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestUptimeWithoutHistory: a history file that cannot be opened leaves
// serve supervising, and `/sanasend uptime` says why there is no history.
func TestUptimeWithoutHistory(t *testing.T) {
	f, start := restartableServe(t, 0, "")
	state := filepath.Join(filepath.Dir(f.configPath), "sanasend-state")
	// A directory where the file should be: SQLite cannot open it.
	if err := os.MkdirAll(filepath.Join(state, HistoryFile), 0o750); err != nil {
		t.Fatal(err)
	}
	start()
	got := slash(t, f, "uptime 7d")
	if !strings.Contains(got, "could not be opened at start") || strings.Contains(got, state) {
		t.Errorf("uptime without a history answered %q; want why, without the path", got)
	}
	if got := slash(t, f, "incidents"); !strings.Contains(got, strings.SplitN(bot.NoHistoryOpenText(""), "(", 2)[0]) {
		t.Errorf("incidents without a history answered %q; want why", got)
	}
}
