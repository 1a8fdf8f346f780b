//go:build !windows

package main

import (
	"bytes"
	"image/png"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDigestAfterABotRestart: an outage on the real stand-in (killed,
// alerted, started again from Slack, resolved) under a first bot process;
// a second one, configured to send the daily and the weekly digest a
// minute later, counts that incident and alice's starts (which only the
// history file knows), and posts the week's chart as a PNG in the weekly
// digest's thread.
func TestDigestAfterABotRestart(t *testing.T) {
	f, start := restartableServe(t, 0, "monitor:\n  interval: 1s\n  timeout: 2s\n  failure_threshold: 1\n  restoration_timeout: 20s\n")
	bot := start()
	procs := startFromSlack(t, f)
	waitAlertsChannel(t, f.fake, "session restoration", 30*time.Second)
	killed := time.Now()
	if err := syscall.Kill(-int(procs[0].PGID), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitAlertSince(t, f.fake, "killed by SIGKILL", killed, 10*time.Second)
	startFromSlack(t, f)
	waitAlertSince(t, f.fake, "resolved after", killed, 20*time.Second)
	bot.stop(t)

	// The next bot sends both digests at the next whole minute at least
	// 15 s away (its start takes a second or two).
	at := time.Now().Add(75 * time.Second).Truncate(time.Minute).Local()
	cfg, err := os.ReadFile(f.configPath)
	if err != nil {
		t.Fatal(err)
	}
	digests := "monitor:\n  digest_at: \"" + at.Format("15:04") + "\"\n  weekly_digest_at: \"" + strings.ToLower(at.Format("Mon 15:04")) + "\"\n"
	if !bytes.Contains(cfg, []byte("monitor:\n")) {
		t.Fatalf("no monitor section in the config:\n%s", cfg)
	}
	if err := os.WriteFile(f.configPath, bytes.Replace(cfg, []byte("monitor:\n"), []byte(digests), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	start()

	wait := time.Until(at) + 30*time.Second
	daily := waitAlertSince(t, f.fake, "Daily digest", restarted, wait).Param("text")
	// The first bot's incident(s) and alice's two starts: the second bot
	// saw none of them.
	if !regexp.MustCompile(`whatsapp: [0-9.]+% up[^;]*, [1-9][0-9]* incidents? \(down`).MatchString(daily) ||
		!regexp.MustCompile(`starts: 2 by \S+`).MatchString(daily) {
		t.Errorf("daily digest after the restart = %q; want the incident and the 2 starts from before it", daily)
	}
	weekly := waitAlertSince(t, f.fake, "Weekly digest", restarted, 30*time.Second)
	if !strings.Contains(weekly.Param("text"), "starts: 2 by") {
		t.Errorf("weekly digest = %q; want the 2 starts from before the restart", weekly.Param("text"))
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var found bool
		for _, u := range f.fake.Uploads() {
			if u.Filename != "whatsapp-uptime-week.png" {
				continue
			}
			found = true
			img, err := png.Decode(bytes.NewReader(u.Content))
			if err != nil || img.Bounds().Dx() != 1200 || img.Bounds().Dy() != 500 {
				t.Errorf("weekly chart: %v, %v; want a 1200x500 PNG", err, img)
			}
			if u.ThreadTS != weekly.TS {
				t.Errorf("weekly chart in thread %q; want the weekly digest's %q", u.ThreadTS, weekly.TS)
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no weekly chart uploaded; uploads: %d", len(f.fake.Uploads()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
