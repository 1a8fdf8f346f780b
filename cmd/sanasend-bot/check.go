package main

import (
	"context"
	"fmt"
	"github.com/nats-io/nats.go"
	"github.com/sanasend/sanasend-bot/config"
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
	agentConfig := cfg.Fleet.URL != "" && len(cfg.Fleet.HubKeys) > 0 && cfg.Slack.BotToken == "" && cfg.Slack.BotTokenFile == ""
	if agentConfig {
		// An agent's config: what `agent` refuses fails here, and no Slack.
		if err := cfg.ValidateAgent(); err != nil {
			failed++
			fmt.Fprintln(out, "✗ agent settings: `agent` would refuse this config:")
			for line := range strings.Lines(err.Error()) {
				fmt.Fprintf(out, "    %s", strings.TrimRight(line, "\n")+"\n")
			}
		} else {
			fmt.Fprintf(out, "✓ agent %s of the hubs %s\n", cfg.Fleet.Host, strings.Join(cfg.Fleet.HubKeys, ", "))
		}
	}
	if cfg.Fleet.URL != "" {
		if err := checkFleetConnection(cfg); err != nil {
			failed++
			fmt.Fprintf(out, "✗ fleet: %v\n", err)
		} else {
			fmt.Fprintf(out, "✓ fleet: connected to %s\n", redactURL(cfg.Fleet.URL))
		}
	}
	// What serve refuses fails here too; the console needs none of it; an
	// agent has no Slack settings at all.
	if err := cfg.ValidateSlack(); err != nil && !agentConfig {
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

// checkFleetConnection connects to fleet.url with the configured
// credentials and TLS, and disconnects.
func checkFleetConnection(cfg *config.Config) error {
	opts, err := natsOptions(cfg.Fleet, nopLogger(), "check "+cfg.Fleet.Host)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(cfg.Fleet.URL, append(opts, nats.Timeout(5*time.Second), nats.MaxReconnects(0))...)
	if err != nil {
		return fmt.Errorf("cannot connect to %s: %w", redactURL(cfg.Fleet.URL), err)
	}
	nc.Close()
	return nil
}
