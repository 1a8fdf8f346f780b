package slackbot

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var manifestUpdate = flag.Bool("update-manifest", false, "rewrite testdata/manifest*.golden.yaml")

func TestManifestGolden(t *testing.T) {
	for _, tc := range []struct {
		golden string
		in     ManifestInput
	}{
		{"manifest_socket.golden.yaml", ManifestInput{AppName: "SanaSend Ops", Command: "/sanasend",
			Description: "Start, stop, restart and inspect the SanaSend WhatsApp service", SocketMode: true}},
		{"manifest_http.golden.yaml", ManifestInput{AppName: "SanaSend Ops", Command: "/sanasend",
			Description: "Start, stop, restart and inspect the SanaSend WhatsApp service",
			RequestURL:  "https://bot.example.com/"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			got, err := Manifest(tc.in)
			if err != nil {
				t.Fatalf("Manifest(%+v): %v", tc.in, err)
			}
			path := filepath.Join("testdata", tc.golden)
			if *manifestUpdate {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update-manifest to create it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("Manifest(%+v) =\n%s\nwant (%s)\n%s", tc.in, got, path, want)
			}
		})
	}
}

// manifestParsed is the manifest read back as Slack would, key by key.
type manifestParsed struct {
	Metadata struct {
		MajorVersion int `yaml:"major_version"`
	} `yaml:"_metadata"`
	DisplayInformation struct {
		Name, Description string
	} `yaml:"display_information"`
	Features struct {
		BotUser struct {
			DisplayName string `yaml:"display_name"`
		} `yaml:"bot_user"`
		SlashCommands []map[string]any `yaml:"slash_commands"`
	}
	OAuthConfig struct {
		Scopes struct{ Bot []string }
	} `yaml:"oauth_config"`
	Settings map[string]any
}

func TestManifestParsesBack(t *testing.T) {
	for _, tc := range []struct {
		name         string
		in           ManifestInput
		commandURL   any // nil: no url key
		interactURL  any
		socketMode   bool
		wantCommand  string
		wantAppName  string
		wantDescribe bool
	}{
		{"http", ManifestInput{Command: "/wa", RequestURL: "https://bot.example.com/base"},
			"https://bot.example.com/base/slack/commands", "https://bot.example.com/base/slack/interactions", false,
			"/wa", "sanasend-bot", true},
		{"socket", ManifestInput{AppName: "Ops", SocketMode: true, RequestURL: "https://ignored.example.com"},
			nil, nil, true, "/sanasend", "Ops", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Manifest(tc.in)
			if err != nil {
				t.Fatalf("Manifest: %v", err)
			}
			var m manifestParsed
			dec := yaml.NewDecoder(strings.NewReader(string(out)))
			if err := dec.Decode(&m); err != nil {
				t.Fatalf("parse back: %v\n%s", err, out)
			}
			if m.Metadata.MajorVersion != 1 {
				t.Errorf("_metadata.major_version = %d; want 1", m.Metadata.MajorVersion)
			}
			if m.DisplayInformation.Name != tc.wantAppName || m.Features.BotUser.DisplayName != tc.wantAppName {
				t.Errorf("names = %q, %q; want %q", m.DisplayInformation.Name, m.Features.BotUser.DisplayName, tc.wantAppName)
			}
			if want := []string{"commands", "chat:write", "files:write", "usergroups:read", "chat:write.public"}; !manifestHasAll(m.OAuthConfig.Scopes.Bot, want) {
				t.Errorf("oauth_config.scopes.bot = %q; want at least %q", m.OAuthConfig.Scopes.Bot, want)
			}
			if want := append(BotScopes(), ScopeChatWritePublic); !slices.Equal(m.OAuthConfig.Scopes.Bot, want) {
				t.Errorf("oauth_config.scopes.bot = %q; want BotScopes and chat:write.public %q", m.OAuthConfig.Scopes.Bot, want)
			}
			if slices.Contains(m.OAuthConfig.Scopes.Bot, "users:read") {
				t.Errorf("oauth_config.scopes.bot = %q asks for users:read, which nothing uses", m.OAuthConfig.Scopes.Bot)
			}
			if hint, _ := m.Features.SlashCommands[0]["usage_hint"].(string); !strings.Contains(hint, "ack") || !strings.Contains(hint, "maintenance") {
				t.Errorf("usage hint %q lacks ack or maintenance", hint)
			}
			if len(m.Features.SlashCommands) != 1 {
				t.Fatalf("slash_commands = %v; want 1", m.Features.SlashCommands)
			}
			sc := m.Features.SlashCommands[0]
			if sc["command"] != tc.wantCommand || sc["url"] != tc.commandURL || sc["should_escape"] != false ||
				sc["usage_hint"] != ManifestUsageHint || sc["description"] == "" {
				t.Errorf("slash_commands[0] = %v; want command %s, url %v, should_escape false", sc, tc.wantCommand, tc.commandURL)
			}
			if _, has := sc["url"]; has != (tc.commandURL != nil) {
				t.Errorf("slash_commands[0] has url = %v; want %v", has, tc.commandURL != nil)
			}
			inter, _ := m.Settings["interactivity"].(map[string]any)
			if inter["is_enabled"] != true || inter["request_url"] != tc.interactURL {
				t.Errorf("settings.interactivity = %v; want enabled, request_url %v", inter, tc.interactURL)
			}
			if m.Settings["socket_mode_enabled"] != tc.socketMode || m.Settings["org_deploy_enabled"] != false ||
				m.Settings["token_rotation_enabled"] != false {
				t.Errorf("settings = %v; want socket_mode_enabled %v, org deploy and token rotation off", m.Settings, tc.socketMode)
			}
		})
	}
}

func manifestHasAll(got, want []string) bool {
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}

func TestManifestRefusesWhatSlackWould(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   ManifestInput
		want string
	}{
		{"http without URL", ManifestInput{}, "public https base URL"},
		{"plain http", ManifestInput{RequestURL: "http://bot.example.com"}, "only calls https"},
		{"relative", ManifestInput{RequestURL: "bot.example.com"}, "only calls https"},
		{"query", ManifestInput{RequestURL: "https://bot.example.com/?a=b"}, "without user, query or fragment"},
		{"command without slash", ManifestInput{Command: "sanasend", SocketMode: true}, `command "sanasend"`},
		{"command uppercase", ManifestInput{Command: "/SanaSend", SocketMode: true}, "lowercase"},
		{"command with space", ManifestInput{Command: "/sana send", SocketMode: true}, "lowercase"},
		{"command of 33 characters", ManifestInput{Command: "/" + strings.Repeat("a", 32), SocketMode: true}, "up to 31 lowercase"},
		{"long name", ManifestInput{AppName: strings.Repeat("n", 36), SocketMode: true}, "Slack allows 35"},
		{"long description", ManifestInput{Description: strings.Repeat("d", 141), SocketMode: true}, "Slack allows 140"},
	} {
		if _, err := Manifest(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Manifest(%+v) = %v; want an error with %q", tc.name, tc.in, err, tc.want)
		}
	}
	// The config accepts the longest command Slack does; so does the manifest.
	if _, err := Manifest(ManifestInput{Command: "/" + strings.Repeat("a", 31), SocketMode: true}); err != nil {
		t.Errorf("Manifest with a 32-character command: %v", err)
	}
}

func TestManifestQuotesUserText(t *testing.T) {
	// Text that means something to YAML comes back as written.
	in := ManifestInput{AppName: "ops: #1", Description: "- yes: no # not a comment", SocketMode: true}
	out, err := Manifest(in)
	if err != nil {
		t.Fatalf("Manifest: %v", err)
	}
	var m manifestParsed
	if err := yaml.Unmarshal(out, &m); err != nil {
		t.Fatalf("parse back: %v\n%s", err, out)
	}
	if m.DisplayInformation.Name != in.AppName || m.DisplayInformation.Description != in.Description {
		t.Errorf("display_information = %+v; want %q, %q", m.DisplayInformation, in.AppName, in.Description)
	}
}
