// Command sanasend-bot supervises the SanaSend WhatsApp service on this host
// and puts its controls in chat. See README.md.
//
// It only wires: main.go parses the command line; wire.go builds what every
// command needs (manager, confirmation store, monitor, router); serve.go,
// slack.go and monitor.go add the Slack front end, the outbox and the
// notifier and run them under one context; console.go, check.go and
// manifest.go are the other commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sanasend/sanasend-bot/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var exit exitError
		if errors.As(err, &exit) { // the command already said why
			os.Exit(int(exit))
		}
		fmt.Fprintln(os.Stderr, "sanasend-bot:", err)
		os.Exit(1)
	}
}

// exitError ends the program with a status and no further message: the
// command already said why.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

const usage = `usage: sanasend-bot [-config PATH] <command> [flags]

commands:
  serve     the bot: Slack (Socket Mode with an app token, else HTTP) and the monitor;
            with fleet: also the hub of the agents of other hosts
  agent     this host's services and monitor for a hub, over NATS (fleet:), no Slack
  hub-key   print the hub's public key, for the agents' fleet.hub_keys
  console   the bot's commands in this terminal (flags: -user NAME)
  manifest  print the Slack app manifest for this config (flags: -url https://...)
  check     validate the config and the host; exit 0 only if every check passes
  version   print version, commit and Go version

-config defaults to $SANASEND_CONFIG, else sanasend-bot.yaml; it may come
before or after the command.
`

// run is the whole program, callable from tests: it returns instead of
// exiting, and stops when ctx is cancelled.
//
// Before anything else it makes the process non-dumpable (harden), so that
// a process of the same uid cannot read the secrets in its environment or
// memory.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if err := harden(); err != nil {
		return err
	}
	configPath, rest, err := splitConfigFlag(args)
	if err != nil {
		fmt.Fprint(stderr, usage)
		return err
	}
	if len(rest) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError(2)
	}
	cmd, cmdArgs := rest[0], rest[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, configPath, cmdArgs, stdout)
	case "console":
		return runConsole(ctx, configPath, cmdArgs, stdin, stdout)
	case "agent":
		return runAgent(ctx, configPath, cmdArgs, stdout)
	case "hub-key":
		return runHubKey(configPath, cmdArgs, stdout)
	case "manifest":
		return runManifest(configPath, cmdArgs, stdout)
	case "check":
		return runCheck(ctx, configPath, cmdArgs, stdout)
	case "version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// splitConfigFlag takes -config out of args wherever it is, so that it may
// come before or after the command, and returns the rest.
func splitConfigFlag(args []string) (path string, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := a, "", false
		if k, v, ok := strings.Cut(a, "="); ok {
			name, value, hasValue = k, v, true
		}
		if name != "-config" && name != "--config" {
			rest = append(rest, a)
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return "", nil, errors.New("-config needs a path")
			}
			i++
			value = args[i]
		}
		path = value
	}
	if path == "" {
		path = os.Getenv("SANASEND_CONFIG")
	}
	if path == "" {
		path = "sanasend-bot.yaml"
	}
	return path, rest, nil
}

// newFlagSet is the flag set of a command; -h prints its usage, flags
// included.
func newFlagSet(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "usage: sanasend-bot [-config PATH] %s [flags]\n\n%s\n\nflags:\n", name, commandSummary(name))
		fs.PrintDefaults()
		fmt.Fprint(out, configFlagHelp)
	}
	return fs
}

// configFlagHelp describes -config the way flag.PrintDefaults describes the
// others: run takes it out before the command's flags are parsed.
const configFlagHelp = `  -config string
    	the config file (default $SANASEND_CONFIG, else sanasend-bot.yaml); before or after the command
`

// commandSummary is what a command does, for its -h.
func commandSummary(name string) string {
	switch name {
	case "serve":
		return "The bot: the Slack front end (Socket Mode with slack.app_token, else HTTP on slack.listen)\nand the monitor, until SIGINT or SIGTERM. The supervised service keeps running."
	case "console":
		return "The bot's commands in this terminal, with line editing and history; alerts appear inline."
	case "manifest":
		return "Print the Slack app manifest for this config: paste it at api.slack.com/apps,\nCreate New App, From a manifest."
	case "agent":
		return "This host's services and their monitor, served to the fleet's hub over NATS (fleet.url),\nuntil SIGINT or SIGTERM. No Slack: the hub is the front end. The services keep running."
	case "hub-key":
		return "Print the public key of the hub's signing key (made at the first call when it is the\ndefault file in the state dir): list it in each agent's fleet.hub_keys."
	case "check":
		return "Validate the config (as serve would) and the host; exit 0 only if every check passes."
	}
	return ""
}

// flagError is the result of a command whose flags did not parse: -h
// printed the usage and succeeds; anything else was reported by the flag
// package and exits 2.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return exitError(0)
	}
	return exitError(2)
}

// loadConfig is config.Load, saying how to point at another file when there
// is none. Once the config is loaded, the secrets are dropped from the
// process's environment (dropSecretEnv).
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w\n  point at another with -config PATH or $SANASEND_CONFIG; examples/sanasend-bot.yaml runs the demo, deploy/sanasend-bot.example.yaml starts a production one", err)
	}
	if err != nil {
		return nil, err
	}
	if err := dropSecretEnv(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// dropSecretEnv removes from the process's environment the variables the
// config took a Slack secret from and any variable whose value is one
// (config.SecretEnv): nothing the bot starts or reads later finds them there.
// /proc/<bot>/environ still shows the environment the bot was started with;
// harden is what keeps other processes from reading it, and secrets read
// from files (slack.*_file) were never in it.
func dropSecretEnv(cfg *config.Config) error {
	for _, name := range cfg.SecretEnv(os.Environ()) {
		if err := os.Unsetenv(name); err != nil {
			return fmt.Errorf("drop %s from the environment: %w", name, err)
		}
	}
	return nil
}
