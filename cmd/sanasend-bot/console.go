package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/user"
	"path/filepath"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/bot/console"
	"github.com/sanasend/sanasend-bot/bot/slackbot"
	"github.com/sanasend/sanasend-bot/config"
	"github.com/sanasend/sanasend-bot/internal/slackid"
	"github.com/sanasend/sanasend-bot/manager"
)

func runConsole(ctx context.Context, configPath string, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := newFlagSet("console", stdout)
	name := "operator"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	userName := fs.String("user", name, "who you are: a name for the audit log (a local operator, always staff), or a Slack user ID (U...) to try the staff rules as that user")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	cfg, err := loadConfig(configPath)
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
	c, err := build(cfg, log, false, nil)
	if err != nil {
		return err
	}
	defer c.closeHistory() // when it returns before the monitor runs; keepHistory closes it otherwise
	defer c.closeServices()
	actor := manager.Actor{ID: "console:" + *userName, Name: *userName}
	var auth bot.Authorizer = localOperator{}
	if slackid.User(*userName) {
		// Impersonate a Slack user: the same staff rules as in Slack,
		// with the groups resolved once if a bot token is configured.
		actor = manager.Actor{ID: *userName, Name: *userName}
		staff, err := consoleStaff(ctx, cfg, log)
		if err != nil {
			return err
		}
		auth = staff
	}
	// The console and the monitor's alerts share the terminal: alerts go
	// through the console, which draws its prompt again below them.
	con, err := console.New(console.Config{User: actor, In: stdin, Out: stdout,
		HistoryFile: filepath.Join(cfg.StateDir, "console_history"), ChartDir: filepath.Join(cfg.StateDir, "charts")})
	if err != nil {
		return err
	}
	notifier, err := consoleAlerts(con.AlertWriter())
	if err != nil {
		return err
	}
	if err := c.route(cfg, log, notifier, nil, auth, nil); err != nil {
		return err
	}
	if err := c.monitor.Start(ctx); err != nil {
		return err
	}
	// The history outlives the monitor, its producer: kept until then.
	keepCtx, stopKeeping := context.WithCancel(context.WithoutCancel(ctx))
	kept := make(chan error, 1)
	go func() { kept <- c.keepHistory(keepCtx, log) }()
	defer func() {
		c.monitor.Stop()
		stopKeeping()
		if err := <-kept; err != nil {
			log.Error().Err(err).Msg("history")
		}
	}()
	screen := con.AlertWriter() // shared with the monitor's alerts
	fmt.Fprintf(screen, "config %s; services: %v; the bot's log and audit trail: %s\n", cfg.Path(), c.m.Names(), logFile.Name())
	runErr := con.Run(ctx, c.router)
	if cfg.Demo.StopOnExit {
		stopStarted(context.WithoutCancel(ctx), c.m, actor, screen)
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
		case errors.Is(err, manager.ErrAlreadyStopped):
			// The user stopped it already: nothing left to do.
		case err != nil:
			fmt.Fprintf(out, "demo: stop %s: %v\n", s.Name(), err)
		case len(res.Stopped) > 0:
			fmt.Fprintf(out, "demo: stopped %s, which this console started (%d processes)\n", s.Name(), len(res.Stopped))
		}
	}
}

// consoleStaff is the staff list of the config, its groups resolved once
// through Slack when a bot token is configured.
func consoleStaff(ctx context.Context, cfg *config.Config, log zerolog.Logger) (*slackbot.Staff, error) {
	var api slackbot.UsergroupsAPI = noGroups{}
	if cfg.Slack.BotToken != "" {
		api = slackbot.NewClient(cfg.Slack.BotToken, cfg.Slack.APIURL)
	}
	staff, err := slackbot.NewStaff(slackbot.StaffConfig{Usergroups: cfg.Slack.Staff.Usergroups, Users: cfg.Slack.Staff.Users,
		Command: cfg.Slack.Command}, api, log, clockwork.NewRealClock())
	if err != nil {
		return nil, err
	}
	if len(cfg.Slack.Staff.Usergroups) > 0 {
		if err := staff.Refresh(ctx); err != nil {
			log.Warn().Err(err).Msg("resolve staff user groups")
		}
	}
	return staff, nil
}

// noGroups answers for user groups when there is no Slack token: nobody is
// a member, so only staff.users count.
type noGroups struct{}

func (noGroups) GetUserGroupMembersContext(context.Context, string, ...slack.GetUserGroupMembersOption) ([]string, error) {
	return nil, errors.New("no slack.bot_token: user groups cannot be resolved")
}
