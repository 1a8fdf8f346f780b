//go:build !windows

package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// TestFullHistoryKeepsAlerting: a history at its cap (history.max_size,
// SQLite's full-disk error) from the bot's first write: the bot supervises
// the real stand-in and alerts on a kill as ever, and status and doctor
// say that the history's writes fail and what to do.
func TestFullHistoryKeepsAlerting(t *testing.T) {
	f, start := restartableServe(t, 0, "monitor:\n  interval: 1s\n  timeout: 2s\n  failure_threshold: 1\n  restoration_timeout: 20s\nhistory:\n  max_size: 1MiB\n")
	fillHistory(t, filepath.Join(filepath.Dir(f.configPath), "sanasend-state"), 1<<20)
	start()
	procs := startFromSlack(t, f)
	waitAlertsChannel(t, f.fake, "session restoration", 30*time.Second)
	// The history fails its first write: status says so from then on.
	deadline := time.Now().Add(20 * time.Second)
	status := slash(t, f, "status")
	for !strings.Contains(status, "writes failing") {
		if time.Now().After(deadline) {
			t.Fatalf("status does not say the history's writes fail: %s", status)
		}
		time.Sleep(200 * time.Millisecond)
		status = slash(t, f, "status")
	}
	if !strings.Contains(status, "the disk is full") {
		t.Errorf("status does not say why the history's writes fail: %s", status)
	}
	killed := time.Now()
	if err := syscall.Kill(-int(procs[0].PGID), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitAlertSince(t, f.fake, "killed by SIGKILL", killed, 10*time.Second)

	doctor := slash(t, f, "doctor")
	if !strings.Contains(doctor, "✗ *history* writes failing") || !strings.Contains(doctor, "history.max_size") {
		t.Errorf("doctor does not fail the history with what to do: %s", doctor)
	}
}

// fillHistory fills dir's history database up to maxSize bytes with
// another service's checks, as a full disk leaves it: first in bulk until
// a write fails, then one check a write until one fails, so that the last
// pages have no room left and the next check needs a page there is none
// for.
func fillHistory(t *testing.T, dir string, maxSize int64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	open := func() *history.Store {
		store, err := history.Open(filepath.Join(dir, HistoryFile), history.Options{CheckInterval: time.Second, MaxSize: maxSize,
			QueueSize: 4096, CloseTimeout: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return store
	}
	deadline := time.Now().Add(30 * time.Second)
	now := time.Now()
	check := func(i int) history.Check {
		return history.Check{Service: "filler", At: now.Add(time.Duration(i) * time.Millisecond), State: history.Healthy, Latency: time.Millisecond}
	}
	store := open()
	i := 0
	for ; !store.Health().Failing; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("the history never filled up: %+v", store.Health())
		}
		store.RecordCheck(check(i))
		if i%256 == 0 {
			time.Sleep(time.Millisecond) // let the writer take what is queued
		}
	}
	_ = store.Close() // drops the batch that did not fit
	store = open()
	defer store.Close()
	for ; !store.Health().Failing; i++ {
		last := store.Health().LastWrite
		store.RecordCheck(check(i))
		for h := store.Health(); !h.Failing && !h.LastWrite.After(last); h = store.Health() {
			if time.Now().After(deadline) {
				t.Fatalf("the history never filled up: %+v", h)
			}
			time.Sleep(time.Millisecond)
		}
	}
}
