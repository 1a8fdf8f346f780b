package main

import (
	"context"
	"errors"
	"path/filepath"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

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
	store, err := history.Open(filepath.Join(cfg.StateDir, HistoryFile), history.Options{
		Logger: log, CheckInterval: cfg.Monitor.Interval,
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
