package slackbot

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/sanasend/sanasend-bot/internal/slackid"
)

// BotScopes are the bot token scopes the app needs, as the manifest asks for
// them and as `check` requires them:
//
//   - commands: the slash command;
//   - chat:write: replies, alerts, summaries;
//   - files:write: long log output as a file snippet;
//   - usergroups:read: staff.usergroups members (usergroups.users.list);
//   - channels:read, groups:read: conversations.info on the alerts channel
//     (public, private), so `check` can tell whether the bot is in it.
func BotScopes() []string {
	return []string{"commands", "chat:write", "files:write", "usergroups:read", "channels:read", "groups:read"}
}

// ScopeChatWritePublic lets the bot post to a public channel it was not
// invited to. The manifest asks for it, `check` does not require it: a bot
// invited to the alerts channel, or whose alerts channel is private, needs
// it not.
const ScopeChatWritePublic = "chat:write.public"

// manifestScopes are the bot scopes the manifest asks for.
func manifestScopes() []string { return append(BotScopes(), ScopeChatWritePublic) }

// ManifestUsageHint is the slash command's usage hint shown by Slack's
// autocomplete.
const ManifestUsageHint = "status | start | stop | restart | logs [N] [filter] | ps | sessions [cleanup] | doctor | ack | maintenance <30m|off> | help"

// Paths of the HTTP mode endpoints (Front.Handler), below
// ManifestInput.RequestURL.
const (
	manifestPathCommands     = "/slack/commands"
	manifestPathInteractions = "/slack/interactions"
)

// ManifestInput is what the manifest depends on.
type ManifestInput struct {
	AppName     string // display name; "" means "sanasend-bot"
	Command     string // slash command; "" means "/sanasend"
	Description string // one line; "" means a default
	SocketMode  bool
	// RequestURL is the bot's public https base URL for HTTP mode, e.g.
	// https://bot.example.com; ignored in Socket Mode.
	RequestURL string
}

const (
	manifestDefaultName        = "sanasend-bot"
	manifestDefaultDescription = "Supervises the SanaSend WhatsApp service: status, restarts, logs and alerts"
	manifestMaxName            = 35  // Slack's limit for display_information.name
	manifestMaxDescription     = 140 // Slack's limit for display_information.description
)

// The manifest's shape (Slack app manifest, _metadata major_version 1). Field
// order is the order written.
type manifestDoc struct {
	Metadata           manifestMetadata `yaml:"_metadata"`
	DisplayInformation manifestDisplay  `yaml:"display_information"`
	Features           manifestFeatures `yaml:"features"`
	OAuthConfig        manifestOAuth    `yaml:"oauth_config"`
	Settings           manifestSettings `yaml:"settings"`
}

type manifestMetadata struct {
	MajorVersion int `yaml:"major_version"`
	MinorVersion int `yaml:"minor_version"`
}

type manifestDisplay struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
}

type manifestFeatures struct {
	BotUser       manifestBotUser        `yaml:"bot_user"`
	SlashCommands []manifestSlashCommand `yaml:"slash_commands"`
}

type manifestBotUser struct {
	DisplayName  string `yaml:"display_name"`
	AlwaysOnline bool   `yaml:"always_online"`
}

type manifestSlashCommand struct {
	Command      string `yaml:"command"`
	URL          string `yaml:"url,omitempty"`
	Description  string `yaml:"description"`
	UsageHint    string `yaml:"usage_hint"`
	ShouldEscape bool   `yaml:"should_escape"`
}

type manifestOAuth struct {
	Scopes manifestScopeList `yaml:"scopes"`
}

type manifestScopeList struct {
	Bot []string `yaml:"bot"`
}

type manifestSettings struct {
	Interactivity        manifestInteractivity `yaml:"interactivity"`
	OrgDeployEnabled     bool                  `yaml:"org_deploy_enabled"`
	SocketModeEnabled    bool                  `yaml:"socket_mode_enabled"`
	TokenRotationEnabled bool                  `yaml:"token_rotation_enabled"`
}

type manifestInteractivity struct {
	IsEnabled  bool   `yaml:"is_enabled"`
	RequestURL string `yaml:"request_url,omitempty"`
}

// Manifest returns the Slack app manifest (YAML) for in: the slash command,
// the bot scopes (BotScopes and ScopeChatWritePublic), interactivity for the buttons, and either
// Socket Mode or the HTTP mode request URLs <RequestURL>/slack/commands and
// <RequestURL>/slack/interactions. It fails when the command, the name or
// the URL would be refused by Slack.
func Manifest(in ManifestInput) ([]byte, error) {
	if in.AppName == "" {
		in.AppName = manifestDefaultName
	}
	if in.Command == "" {
		in.Command = "/sanasend"
	}
	if in.Description == "" {
		in.Description = manifestDefaultDescription
	}
	if n := utf8.RuneCountInString(in.AppName); n > manifestMaxName {
		return nil, fmt.Errorf("manifest: app name %q is %d characters; Slack allows %d", in.AppName, n, manifestMaxName)
	}
	if n := utf8.RuneCountInString(in.Description); n > manifestMaxDescription {
		return nil, fmt.Errorf("manifest: description is %d characters; Slack allows %d", n, manifestMaxDescription)
	}
	if !slackid.Command(in.Command) {
		return nil, fmt.Errorf("manifest: command %q: want a slash and up to %d lowercase letters, digits, - or _ (e.g. /sanasend)", in.Command, slackid.CommandMax-1)
	}

	cmd := manifestSlashCommand{Command: in.Command, Description: in.Description,
		UsageHint: ManifestUsageHint, ShouldEscape: false}
	inter := manifestInteractivity{IsEnabled: true}
	if !in.SocketMode {
		base, err := manifestBaseURL(in.RequestURL)
		if err != nil {
			return nil, err
		}
		cmd.URL = base + manifestPathCommands
		inter.RequestURL = base + manifestPathInteractions
	}
	doc := manifestDoc{
		Metadata:           manifestMetadata{MajorVersion: 1, MinorVersion: 1},
		DisplayInformation: manifestDisplay{Name: in.AppName, Description: in.Description},
		Features: manifestFeatures{
			BotUser:       manifestBotUser{DisplayName: in.AppName, AlwaysOnline: true},
			SlashCommands: []manifestSlashCommand{cmd},
		},
		OAuthConfig: manifestOAuth{Scopes: manifestScopeList{Bot: manifestScopes()}},
		Settings: manifestSettings{
			Interactivity:        inter,
			OrgDeployEnabled:     false,
			SocketModeEnabled:    in.SocketMode,
			TokenRotationEnabled: false,
		},
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return buf.Bytes(), nil
}

// manifestBaseURL checks the HTTP mode base URL: absolute https with a host,
// no query or fragment. It returns it without a trailing slash.
func manifestBaseURL(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("manifest: HTTP mode needs the bot's public https base URL (e.g. https://bot.example.com), or use Socket Mode")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("manifest: request URL %q: %w", raw, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("manifest: request URL %q: Slack only calls https:// URLs with a host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("manifest: request URL %q: want a base URL without user, query or fragment", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}
