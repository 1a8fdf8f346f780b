package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// secretYAML is a valid config for serve in Socket Mode, with the secrets'
// keys left to each case.
const secretYAML = `
slack:
%s
  alerts_channel: C0ALERTS
services:
  - dir: /srv/whatsapp
`

func TestLoadSecretFiles(t *testing.T) {
	const botToken = "xoxb-1-from-a-file"
	const appToken = "xapp-1-from-a-file"
	tests := []struct {
		name  string
		slack string            // the slack keys, indented
		files map[string]string // name (under the test dir) -> content, mode 0600
		modes map[string]os.FileMode
		dirs  []string // directories to make under the test dir
		cred  string   // $CREDENTIALS_DIRECTORY under the test dir; "" unset
		env   map[string]string
		// wantBot, wantApp are the secrets read; wantErr a part of the
		// error of Load (then Load must fail).
		wantBot, wantApp, wantErr string
	}{
		{
			name:    "value",
			slack:   "  bot_token: ${SLACK_BOT_TOKEN}\n  app_token: " + appToken,
			env:     map[string]string{"SLACK_BOT_TOKEN": botToken},
			wantBot: botToken, wantApp: appToken,
		},
		{
			name:    "file, absolute, trailing newline trimmed",
			slack:   "  bot_token_file: {dir}/bot\n  app_token_file: {dir}/app",
			files:   map[string]string{"bot": botToken + "\n", "app": appToken + "\r\n"},
			wantBot: botToken, wantApp: appToken,
		},
		{
			name:    "file relative to the config file",
			slack:   "  bot_token_file: secrets/bot\n  app_token: " + appToken,
			dirs:    []string{"secrets"},
			files:   map[string]string{"secrets/bot": botToken},
			wantBot: botToken, wantApp: appToken,
		},
		{
			name:    "file relative to CREDENTIALS_DIRECTORY",
			slack:   "  bot_token_file: bot_token\n  app_token_file: app_token",
			dirs:    []string{"creds"},
			files:   map[string]string{"creds/bot_token": botToken, "creds/app_token": appToken, "bot_token": "xoxb-the-wrong-one"},
			cred:    "creds",
			wantBot: botToken, wantApp: appToken,
		},
		{
			name:    "both value and file",
			slack:   "  bot_token: ${SLACK_BOT_TOKEN}\n  bot_token_file: {dir}/bot\n  app_token: " + appToken,
			env:     map[string]string{"SLACK_BOT_TOKEN": botToken},
			files:   map[string]string{"bot": botToken},
			wantErr: "slack.bot_token_file: set either slack.bot_token or slack.bot_token_file, not both (line 4)",
		},
		{
			name:    "an empty value and a file: the file",
			slack:   "  bot_token: ${SLACK_BOT_TOKEN:-}\n  bot_token_file: {dir}/bot\n  app_token: " + appToken,
			files:   map[string]string{"bot": botToken},
			wantBot: botToken, wantApp: appToken,
		},
		{
			name:    "neither",
			slack:   "  app_token: " + appToken,
			wantErr: "slack.bot_token: is required: the Bot User OAuth Token (xoxb-...) from the app's OAuth & Permissions page, here or in a file named by slack.bot_token_file",
		},
		{
			name:    "world-readable",
			slack:   "  bot_token_file: {dir}/bot\n  app_token: " + appToken,
			files:   map[string]string{"bot": botToken},
			modes:   map[string]os.FileMode{"bot": 0o644},
			wantErr: "slack.bot_token_file: {dir}/bot is readable by every user (mode 0644): make it readable by the bot's user only, e.g. chmod 600 {dir}/bot (line 3)",
		},
		{
			name:    "group-readable is fine",
			slack:   "  bot_token_file: {dir}/bot\n  app_token: " + appToken,
			files:   map[string]string{"bot": botToken},
			modes:   map[string]os.FileMode{"bot": 0o640},
			wantBot: botToken, wantApp: appToken,
		},
		{
			name:    "missing",
			slack:   "  bot_token: ${SLACK_BOT_TOKEN}\n  app_token_file: app_token",
			env:     map[string]string{"SLACK_BOT_TOKEN": botToken},
			dirs:    []string{"creds"},
			cred:    "creds",
			wantErr: "slack.app_token_file: {dir}/creds/app_token does not exist (line 4)",
		},
		{
			name:    "missing beside the config file",
			slack:   "  bot_token_file: bot_token\n  app_token: " + appToken,
			wantErr: "slack.bot_token_file: {dir}/bot_token does not exist ($CREDENTIALS_DIRECTORY is not set, so a relative name is beside the config file) (line 3)",
		},
		{
			name:    "a directory",
			slack:   "  bot_token_file: {dir}/bot\n  app_token: " + appToken,
			dirs:    []string{"bot"},
			wantErr: "slack.bot_token_file: {dir}/bot is a directory, not a file (line 3)",
		},
		{
			name:    "empty",
			slack:   "  bot_token_file: {dir}/bot\n  app_token: " + appToken,
			files:   map[string]string{"bot": "\n"},
			wantErr: "slack.bot_token_file: {dir}/bot is empty: write the secret in it (line 3)",
		},
		{
			name:    "a token instead of a file name",
			slack:   "  bot_token_file: xoxb-1-SECRET-in-the-wrong-key\n  app_token: " + appToken,
			wantErr: "slack.bot_token_file: (value hidden) looks like a Slack token, not a file name: put the token in the file it names, or in slack.bot_token (line 3)",
		},
		{
			name:    "a file secret of the wrong kind is hidden",
			slack:   "  bot_token_file: {dir}/bot\n  app_token: " + appToken,
			files:   map[string]string{"bot": "xoxp-1-SECRET-user-token"},
			wantErr: "slack.bot_token: (value hidden) is a user token (xoxp-): use the Bot User OAuth Token (xoxb-...)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			fill := func(s string) string { return strings.ReplaceAll(s, "{dir}", dir) }
			for _, d := range tt.dirs {
				if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			for name, content := range tt.files {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
				if m, ok := tt.modes[name]; ok {
					if err := os.Chmod(p, m); err != nil {
						t.Fatal(err)
					}
				}
			}
			// Every variable the cases use, set or unset.
			for _, k := range []string{"SLACK_BOT_TOKEN", CredentialsDirectoryEnv} {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			if tt.cred != "" {
				t.Setenv(CredentialsDirectoryEnv, filepath.Join(dir, tt.cred))
			}
			path := filepath.Join(dir, "sanasend-bot.yaml")
			if err := os.WriteFile(path, []byte(fill(strings.Replace(secretYAML, "%s", tt.slack, 1))), 0o600); err != nil {
				t.Fatal(err)
			}

			c, err := Load(path)
			if err == nil {
				err = c.ValidateSlack()
			}
			got := errText(err)
			if tt.wantErr != "" {
				if want := fill(tt.wantErr); !strings.Contains(got, want) {
					t.Fatalf("Load, ValidateSlack: error\n%s\nwant it to contain\n%s", got, want)
				}
				if strings.Contains(got, "SECRET") || strings.Contains(got, "from-a-file") {
					t.Errorf("the error shows a secret:\n%s", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load, ValidateSlack: %v", err)
			}
			if c.Slack.BotToken != tt.wantBot || c.Slack.AppToken != tt.wantApp {
				t.Errorf("bot token, app token = %q, %q; want %q, %q", c.Slack.BotToken, c.Slack.AppToken, tt.wantBot, tt.wantApp)
			}
		})
	}
}

// A secret read from a file is hidden wherever it shows up in an error, as
// one from the environment is.
func TestFileSecretsNeverInErrors(t *testing.T) {
	dir := t.TempDir()
	secrets := map[string]string{"bot": "xoxb-FILESECRET1", "signing": "FILESECRET2-signing"}
	for name, v := range secrets {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	yml := `
slack:
  bot_token_file: bot
  signing_secret_file: signing
  alerts_channel: xoxb-FILESECRET1
  staff:
    users: [FILESECRET2-signing]
services:
  - dir: /s
    url: http://h/FILESECRET2-signing?q
`
	path := filepath.Join(dir, "sanasend-bot.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(CredentialsDirectoryEnv, "")
	os.Unsetenv(CredentialsDirectoryEnv)
	_, err := Load(path)
	text := errText(err)
	for _, want := range []string{`slack.alerts_channel: "(value hidden)"`, `slack.staff.users[0]: "(value hidden)"`, `services[0].url: "http://h/(value hidden)?q"`} {
		if !strings.Contains(text, want) {
			t.Errorf("Load: error\n%s\nwant it to contain %q", text, want)
		}
	}
	if strings.Contains(text, "FILESECRET") {
		t.Errorf("Load: the error shows a secret read from a file:\n%s", text)
	}
}

func TestSecretEnv(t *testing.T) {
	yml := `
slack:
  bot_token: ${SLACK_BOT_TOKEN}
  signing_secret: ${MY_SIGNING_SECRET}
  app_token: ${SLACK_APP_TOKEN:-}
  command: ${SLACK_COMMAND:-/sanasend}
  alerts_channel: C0ALERTS
services:
  - dir: /s
    env:
      PORT: ${PORT}
`
	vars := map[string]string{
		"SLACK_BOT_TOKEN":   "xoxb-1-bot",
		"MY_SIGNING_SECRET": "signing-secret-1",
		"PORT":              "3000",
		"COPY_OF_TOKEN":     "xoxb-1-bot",
	}
	c := mustParse(t, yml, vars)
	environ := []string{"SLACK_BOT_TOKEN=xoxb-1-bot", "MY_SIGNING_SECRET=signing-secret-1", "PORT=3000",
		"COPY_OF_TOKEN=xoxb-1-bot", "HOME=/root", "EMPTY=", "NOEQUALS", "CREDENTIALS_DIRECTORY=/run/credentials/sanasend-bot.service"}
	got := c.SecretEnv(environ)
	want := []string{"COPY_OF_TOKEN", "CREDENTIALS_DIRECTORY", "MY_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_BOT_TOKEN", "SLACK_COMMAND"}
	if !slices.Equal(got, want) {
		t.Errorf("SecretEnv = %q; want %q", got, want)
	}
}
