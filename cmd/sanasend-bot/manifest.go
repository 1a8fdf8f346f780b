package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sanasend/sanasend-bot/bot/slackbot"
	"github.com/sanasend/sanasend-bot/config"
)

// runManifest prints the Slack app manifest for this config: paste it at
// api.slack.com/apps -> Create New App -> From a manifest.
func runManifest(configPath string, args []string, out io.Writer) error {
	fs := newFlagSet("manifest", out)
	baseURL := fs.String("url", "", "the bot's public https base URL, for HTTP mode (e.g. https://bot.example.com); without it: Socket Mode")
	name := fs.String("name", "SanaSend Ops", "the app's display name")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	// The manifest comes before the tokens: the config may not exist yet,
	// and then the defaults apply; the secret files are not read.
	command := config.Default().Slack.Command
	if data, readErr := os.ReadFile(configPath); readErr == nil {
		cfg, err := config.Parse(data, configPath, os.LookupEnv)
		if err != nil {
			return err
		}
		command = cfg.Slack.Command
	}
	// Socket Mode unless a public URL is given: it needs no inbound
	// connection at all.
	socket := *baseURL == ""
	if !socket && !strings.HasPrefix(*baseURL, "https://") {
		return fmt.Errorf("manifest: -url must be the bot's public https:// base URL (Slack only calls https); omit it for Socket Mode")
	}
	data, err := slackbot.Manifest(slackbot.ManifestInput{
		AppName: *name, Command: command, SocketMode: socket, RequestURL: strings.TrimRight(*baseURL, "/"),
		Description: "Start, stop, restart and inspect the SanaSend WhatsApp service",
	})
	if err != nil {
		return err
	}
	_, err = out.Write(data)
	return err
}
