package main

import (
	"context"
	"fmt"
	"io"
	"os/user"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/bot/console"
	"github.com/sanasend/sanasend-bot/config"
	"github.com/sanasend/sanasend-bot/manager"
)

func runConsole(ctx context.Context, configPath string, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := newFlagSet("console", stdout)
	name := "operator"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	userName := fs.String("user", name, "who you are in the audit log")
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	cfg, err := config.Load(configPath)
	if err != nil {
		return err
	}
	logFile, err := openLogFile(cfg, "console.log")
	if err != nil {
		return err
	}
	defer logFile.Close()
	log, err := newLogger(cfg, logFile)
	if err != nil {
		return err
	}
	m, err := newManager(cfg, log)
	if err != nil {
		return err
	}
	router, err := bot.NewRouter(bot.RouterConfig{
		Services:       directory{m},
		Auth:           localOperator{},
		ConfirmTimeout: cfg.Slack.ConfirmTimeout,
		Audit:          log,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "config %s; services: %v; the bot's log and audit trail: %s\n", cfg.Path(), m.Names(), logFile.Name())
	actor := manager.Actor{ID: "console:" + *userName, Name: *userName}
	runErr := console.New(router, actor, stdin, stdout, nil).Run(ctx)
	if cfg.Demo.StopOnExit {
		stopStarted(context.WithoutCancel(ctx), m, actor, stdout)
	}
	return runErr
}

// stopStarted stops the services this process started: the demo must leave
// nothing behind. In production the service always outlives the bot.
func stopStarted(ctx context.Context, m *manager.Manager, by manager.Actor, out io.Writer) {
	for _, s := range m.Services() {
		if !s.StartedHere() {
			continue
		}
		res, err := s.Stop(ctx, by, nil)
		switch {
		case err != nil:
			fmt.Fprintf(out, "demo: stop %s: %v\n", s.Name(), err)
		case len(res.Stopped) > 0:
			fmt.Fprintf(out, "demo: stopped %s, which this console started (%d processes)\n", s.Name(), len(res.Stopped))
		}
	}
}
