package main

import (
	"os"
	"path/filepath"
	"testing"
)

// Once the config is loaded, the bot's environment holds no Slack secret:
// not the variables the config took them from, not a copy of one under
// another name, not $CREDENTIALS_DIRECTORY. Other variables stay.
func TestLoadConfigDropsSecretEnv(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sanasend-bot.yaml")
	yml := `
slack:
  bot_token: ${SLACK_BOT_TOKEN}
  signing_secret: ${SIGNING:-}
  app_token_file: app_token
  alerts_channel: C0ALERTS
services:
  - dir: /srv/whatsapp
    env:
      NODE_ENV: ${NODE_ENV}
`
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"SLACK_BOT_TOKEN": "xoxb-1-from-the-env",
		"SIGNING":         "signing-secret-from-the-env",
		"OLD_APP_TOKEN":   "xapp-1-from-a-file",
		"NODE_ENV":        "production",
		"SANASEND_OTHER":  "kept",
	}
	for k, v := range vars {
		t.Setenv(k, v)
	}
	// app_token is a systemd credential.
	creds := t.TempDir()
	if err := os.WriteFile(filepath.Join(creds, "app_token"), []byte("xapp-1-from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", creds)

	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Slack.BotToken != vars["SLACK_BOT_TOKEN"] || cfg.Slack.SigningSecret != vars["SIGNING"] || cfg.Slack.AppToken != vars["OLD_APP_TOKEN"] {
		t.Errorf("the config lost its secrets: %q, %q, %q", cfg.Slack.BotToken, cfg.Slack.SigningSecret, cfg.Slack.AppToken)
	}
	for _, k := range []string{"SLACK_BOT_TOKEN", "SIGNING", "OLD_APP_TOKEN", "CREDENTIALS_DIRECTORY"} {
		if v, ok := os.LookupEnv(k); ok {
			t.Errorf("after loadConfig $%s = %q; want it unset", k, v)
		}
	}
	for _, k := range []string{"NODE_ENV", "SANASEND_OTHER"} {
		if got := os.Getenv(k); got != vars[k] {
			t.Errorf("after loadConfig $%s = %q; want %q", k, got, vars[k])
		}
	}
}
