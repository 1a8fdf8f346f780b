//go:build !windows

package main

import (
	"context"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/history"
)

// TestHistorySurvivesABotRestart: an outage on the real stand-in (killed,
// alerted, started again from Slack, resolved), a restart, and the checks
// around them are in the history file; a second bot process over the same
// state dir keeps them and adds its own.
func TestHistorySurvivesABotRestart(t *testing.T) {
	f, start := restartableServe(t, 0, "monitor:\n  interval: 1s\n  timeout: 2s\n  failure_threshold: 1\n  restoration_timeout: 20s\n")
	bot := start()
	began := time.Now()
	procs := startFromSlack(t, f)
	waitAlertsChannel(t, f.fake, "session restoration", 30*time.Second)
	if err := syscall.Kill(-int(procs[0].PGID), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitAlertsChannel(t, f.fake, "STOPPED", 10*time.Second)
	startFromSlack(t, f)
	waitAlertsChannel(t, f.fake, "resolved after", 20*time.Second)
	confirmFromSlack(t, f, "restart", "restart whatsapp", 60*time.Second)
	bot.stop(t)

	read := func() ([]history.Incident, history.Report) {
		t.Helper()
		store, err := history.Open(filepath.Join(filepath.Dir(f.configPath), "sanasend-state", HistoryFile), history.Options{CheckInterval: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		incs, err := store.Incidents(context.Background(), "whatsapp", 10)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := store.Uptime(context.Background(), "whatsapp", began.Add(-time.Minute), time.Now().Add(time.Minute), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return incs, rep
	}
	incs, rep := read()
	killed := slices.IndexFunc(incs, func(i history.Incident) bool { return i.Cause == "killed by SIGKILL" })
	if killed < 0 || incs[killed].Open() || incs[killed].ResolvedBy != "u0alice" || incs[killed].Duration <= 0 {
		t.Fatalf("incidents after the first bot = %+v; want the kill's, resolved by alice's start, with its outage", incs)
	}
	if rep.Checks == 0 || rep.Stopped <= 0 || rep.Healthy <= 0 || rep.Restarts["u0alice"]+rep.Restarts["U0ALICE"] != 1 {
		t.Errorf("uptime after the first bot: %d checks, healthy %s, stopped %s, restarts %v; want checks, both states, one restart by alice",
			rep.Checks, rep.Healthy, rep.Stopped, rep.Restarts)
	}

	// The next bot process keeps it and adds its checks.
	bot = start()
	waitBotChecks(t, f.base, 2, 15*time.Second)
	bot.stop(t)
	incs2, rep2 := read()
	if len(incs2) != len(incs) || incs2[0].ID != incs[0].ID || rep2.Checks <= rep.Checks {
		t.Errorf("after a bot restart: incidents %+v, %d checks (before: %d incidents, %d checks)", incs2, rep2.Checks, len(incs), rep.Checks)
	}
}
