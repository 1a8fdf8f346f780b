package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sanasend/sanasend-bot/bot/mailbot"
	"github.com/sanasend/sanasend-bot/bot/slackbot"
	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/internal/human"
)

// runCheck validates the config and the host, printing each check; it
// fails when any check fails (warnings pass).
func runCheck(ctx context.Context, configPath string, args []string, out io.Writer) error {
	fs := newFlagSet("check", out)
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	cfg, err := loadConfig(configPath)
	if err != nil {
		fmt.Fprintf(out, "✗ config\n%v\n", err)
		return exitError(1)
	}
	fmt.Fprintf(out, "✓ config %s (%s)\n", cfg.Path(), human.Count(len(cfg.Services), "service"))
	m, err := newManager(cfg, nopLogger())
	if err != nil {
		return err
	}
	failed := 0
	// What serve refuses fails here too; the console needs none of it.
	if err := cfg.ValidateSlack(); err != nil {
		failed++
		fmt.Fprintln(out, "✗ slack settings: `serve` would refuse this config (the console runs without them):")
		for line := range strings.Lines(err.Error()) {
			fmt.Fprintf(out, "    %s", strings.TrimRight(line, "\n")+"\n")
		}
	}
	printChecks := func(checks []doctor.Check) {
		for _, c := range checks {
			mark := "✓"
			switch c.Verdict {
			case doctor.VerdictWarn:
				mark = "!"
			case doctor.VerdictFail:
				mark = "✗"
				failed++
			}
			fmt.Fprintf(out, "  %s %-16s %s\n", mark, c.Name, c.Detail)
			if c.Hint != "" && c.Verdict != doctor.VerdictOK {
				fmt.Fprintf(out, "    %-16s → %s\n", "", c.Hint)
			}
		}
	}
	if cfg.Slack.BotToken != "" {
		fmt.Fprintln(out, "slack")
		api := slackbot.NewClient(cfg.Slack.BotToken, cfg.Slack.APIURL)
		printChecks(slackbot.SlackChecks(ctx, api, func(ctx context.Context) ([]string, error) {
			return slackbot.GrantedScopes(ctx, nil, cfg.Slack.APIURL, cfg.Slack.BotToken)
		}, slackbot.SlackCheckConfig{AlertsChannel: cfg.Slack.AlertsChannel, Usergroups: cfg.Slack.Staff.Usergroups,
			Users: cfg.Slack.Staff.Users}))
	} else {
		fmt.Fprintln(out, "slack: not checked without slack.bot_token")
	}
	if e := cfg.Notify.Email; e.Enabled() {
		// Connects and logs in; sends nothing.
		sender, err := mailbot.NewSender(mailbot.SenderConfig{Email: e, HELO: "localhost", Timeout: 15 * time.Second})
		if err == nil {
			err = sender.Check(ctx)
		}
		if err != nil {
			failed++
			fmt.Fprintf(out, "✗ email %s:%d: %v\n", e.Host, e.Port, err)
		} else {
			fmt.Fprintf(out, "✓ email %s:%d: connected and logged in (nothing sent)\n", e.Host, e.Port)
		}
	}
	for _, s := range m.Services() {
		fmt.Fprintf(out, "service %s (%s)\n", s.Name(), s.Config().Dir)
		printChecks(s.HostChecks(ctx))
	}
	if failed > 0 {
		fmt.Fprintf(out, "%s failed\n", human.Count(failed, "check"))
		return exitError(1)
	}
	return nil
}
