package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/config"
	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/recorder"
)

// HistoryFile is the services' history in the state dir.
const HistoryFile = "history.db"

// historyMaintainEvery is how often rollups and retention run.
const historyMaintainEvery = 5 * time.Minute

// openHistory opens the history in the state dir and its recorder. A
// history that cannot be opened (a full disk, a damaged or newer file) is
// logged and left out: the bot supervises and alerts without it.
func (c *core) openHistory(cfg *config.Config, log zerolog.Logger) {
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil { // the first start
		log.Error().Err(err).Msg("history unavailable: supervising without it")
		c.noHistory = bot.NoHistoryOpenText("the state dir cannot be made")
		return
	}
	store, err := history.Open(filepath.Join(cfg.StateDir, HistoryFile), history.Options{
		Logger: log, CheckInterval: cfg.Monitor.Interval, MaxSize: int64(cfg.History.MaxSize),
	})
	if err != nil {
		log.Error().Str("reason", history.SafeMessage(err)).Msg("history unavailable: supervising without it")
		c.noHistory = bot.NoHistoryOpenText(history.SafeMessage(err))
		return
	}
	rec, err := recorder.New(store, clockwork.NewRealClock())
	if err != nil {
		log.Error().Err(err).Msg("history recorder")
		_ = store.Close()
		c.noHistory = bot.NoHistoryOpenText("its recorder could not be made")
		return
	}
	c.history, c.rec = store, rec
}

// stateOpenTimeout bounds the reads and the import of the durable state at
// start.
const stateOpenTimeout = 30 * time.Second

// openState chooses where the monitor's alert state and added windows
// (c.alertState) and the confirmation tokens (the TokenStore returned) are
// kept: in the history when it is open, after a one-time import of the
// state files of an older bot (recorder.ImportFiles); else, or when the
// import or the read fails (logged), in the state dir's files as before,
// and the TokenStore is nil.
func (c *core) openState(cfg *config.Config, log zerolog.Logger) (bot.TokenStore, error) {
	files := func() (bot.TokenStore, error) {
		fs, err := alerts.NewFileStateStore(cfg.StateDir)
		c.alertState = fs
		return nil, err
	}
	if c.history == nil {
		return files()
	}
	ctx, cancel := context.WithTimeout(context.Background(), stateOpenTimeout)
	defer cancel()
	if err := recorder.ImportFiles(ctx, c.history, cfg.StateDir, log); err != nil {
		log.Error().Err(err).Msg("state files not imported into the history: alert state and tokens stay in the files")
		return files()
	}
	as, err := recorder.OpenAlertState(ctx, c.history, log)
	if err != nil {
		log.Error().Err(err).Msg("alert state unreadable in the history: keeping it in the state dir's file")
		return files()
	}
	tokens, err := recorder.NewTokens(c.history)
	if err != nil {
		return nil, err
	}
	c.alertState = as
	return tokens, nil
}

// keepHistory records every service's actions and runs the history's
// rollups and retention until ctx is done; then it closes the history
// (after its producers: call it once the monitor has stopped or with a ctx
// that ends after).
func (c *core) keepHistory(ctx context.Context, log zerolog.Logger) error {
	if c.history == nil {
		return nil
	}
	sched, err := gocron.NewScheduler()
	if err != nil {
		return errors.Join(err, c.history.Close())
	}
	if _, err := c.history.Schedule(sched, historyMaintainEvery); err != nil {
		return errors.Join(err, sched.Shutdown(), c.history.Close())
	}
	sched.Start()
	done := make(chan struct{})
	n := 0
	for _, s := range c.m.Services() {
		events, cancel := s.Subscribe(64)
		n++
		go func() {
			defer func() { done <- struct{}{} }()
			c.rec.Actions(ctx, events)
		}()
		context.AfterFunc(ctx, cancel)
	}
	<-ctx.Done()
	for range n {
		<-done
	}
	err = sched.Shutdown()
	if cerr := c.history.Close(); cerr != nil {
		// What could not be written is lost, the bot's exit is not.
		log.Error().Str("reason", history.SafeMessage(cerr)).Msg("close the history")
	}
	return err
}

// closeHistory closes the history if it is open (closing twice is harmless).
func (c *core) closeHistory() {
	if c.history != nil {
		_ = c.history.Close()
	}
}
