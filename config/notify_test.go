package config

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const smtpPassword = "hunter2-smtp-Pa55word"

func TestNotifyEmailDefaults(t *testing.T) {
	c := mustParse(t, validYAML+`
notify:
  email:
    host: smtp.example.com
    username: ${SMTP_USER}
    password: ${SMTP_PASSWORD}
    from: sanasend-bot@example.com
    to: [oncall@example.com, "Ops <ops@example.com>"]
`, map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SMTP_USER": "bot", "SMTP_PASSWORD": smtpPassword})
	want := Email{Host: "smtp.example.com", Port: 587, TLS: EmailTLSMandatory, Username: "bot", Password: smtpPassword,
		From: "sanasend-bot@example.com", To: []string{"oncall@example.com", "Ops <ops@example.com>"},
		Kinds: []string{EmailKindAlert, EmailKindResolved, EmailKindDigest}}
	if !reflect.DeepEqual(c.Notify.Email, want) {
		t.Errorf("email = %+v\nwant    %+v", c.Notify.Email, want)
	}
	if !c.Notify.Email.Enabled() || !c.Notify.Email.Wants(EmailKindResolved) || c.Notify.Email.Wants(EmailKindReminder) {
		t.Errorf("Enabled/Wants wrong for %+v", c.Notify.Email)
	}
	found := false
	for _, s := range c.Secrets() {
		found = found || s == smtpPassword
	}
	if !found {
		t.Error("Secrets() does not list the SMTP password: the service would inherit it")
	}
	if got := c.SecretEnv([]string{"SMTP_PASSWORD=" + smtpPassword, "SMTP_USER=bot"}); !slices.Contains(got, "SMTP_PASSWORD") || slices.Contains(got, "SMTP_USER") {
		t.Errorf("SecretEnv = %v, want SMTP_PASSWORD and not SMTP_USER", got)
	}
}

func TestNotifyEmailOffByDefault(t *testing.T) {
	c := mustParse(t, validYAML, validEnv)
	if c.Notify.Email.Enabled() || !reflect.DeepEqual(c.Notify.Email, Email{}) {
		t.Errorf("email without notify.email = %+v, want off and zero", c.Notify.Email)
	}
}

func TestNotifyEmailErrors(t *testing.T) {
	tests := []struct {
		name, yml string
		want      []string // each a substring of one problem, with its key path
	}{
		{"no host", `
    from: a@example.com
    to: [b@example.com]`, []string{"notify.email.host: is required"}},
		{"host with port", `
    host: smtp.example.com:587
    from: a@example.com
    to: [b@example.com]`, []string{`notify.email.host: "smtp.example.com:587" is not a host name`}},
		{"bad port and tls", `
    host: smtp.example.com
    port: 70000
    tls: starttls
    from: a@example.com
    to: [b@example.com]`, []string{"notify.email.port: 70000 is not a port", `notify.email.tls: "starttls" is not a TLS policy: use mandatory, opportunistic or none`}},
		{"bad addresses", `
    host: smtp.example.com
    from: not an address
    to: [ok@example.com, "@nobody"]`, []string{`notify.email.from: "not an address" is not an email address`, `notify.email.to[1]: "@nobody" is not an email address`}},
		{"no recipients", `
    host: smtp.example.com
    from: a@example.com`, []string{"notify.email.to: list at least one recipient"}},
		{"unknown and empty kinds", `
    host: smtp.example.com
    from: a@example.com
    to: [b@example.com]
    kinds: [alert, pager]`, []string{`notify.email.kinds[1]: "pager" is not a kind of notice: use alert, resolved, digest, reminder, restoration, maintenance`}},
		{"empty kinds", `
    host: smtp.example.com
    from: a@example.com
    to: [b@example.com]
    kinds: []`, []string{"notify.email.kinds: is empty"}},
		{"username without password", `
    host: smtp.example.com
    username: bot
    from: a@example.com
    to: [b@example.com]`, []string{"notify.email.password: is required with notify.email.username"}},
		{"password without username", `
    host: smtp.example.com
    password: ${SMTP_PASSWORD}
    from: a@example.com
    to: [b@example.com]`, []string{"notify.email.username: is required with a password"}},
		{"password and its file", `
    host: smtp.example.com
    username: bot
    password: ${SMTP_PASSWORD}
    password_file: /run/secrets/smtp
    from: a@example.com
    to: [b@example.com]`, []string{"notify.email.password_file: set either notify.email.password or notify.email.password_file, not both"}},
		{"unknown key", `
    host: smtp.example.com
    pasword: x
    from: a@example.com
    to: [b@example.com]`, []string{"notify.email.pasword: unknown key, did you mean password?"}},
	}
	vars := map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SMTP_PASSWORD": smtpPassword}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(validYAML+"notify:\n  email:"+tt.yml+"\n"), testPath, env(vars))
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			if strings.Contains(msg, smtpPassword) {
				t.Errorf("error shows the password:\n%s", msg)
			}
		})
	}
}

// The password is hidden even where a message would quote the value: a
// password put in the wrong key, or an address that embeds it.
func TestNotifyEmailPasswordNeverShown(t *testing.T) {
	yml := validYAML + `
notify:
  email:
    host: smtp.example.com
    username: bot
    password: ${SMTP_PASSWORD}
    from: ${SMTP_PASSWORD}
    to: ["${SMTP_PASSWORD}"]
    kinds: ["${SMTP_PASSWORD}"]
`
	_, err := Parse([]byte(yml), testPath, env(map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SMTP_PASSWORD": smtpPassword}))
	if err == nil {
		t.Fatal("Parse accepted it")
	}
	if strings.Contains(err.Error(), smtpPassword) || !strings.Contains(err.Error(), "notify.email.from") {
		t.Errorf("error shows the password or misses the key:\n%v", err)
	}
	bad := Email{Host: "smtp.example.com", Port: 587, TLS: "none", Username: "u", Password: smtpPassword, From: smtpPassword, To: []string{"x@example.com"}, Kinds: []string{"alert"}}
	err = bad.Validate()
	if err == nil || strings.Contains(err.Error(), smtpPassword) || !strings.Contains(err.Error(), "notify.email.from") {
		t.Errorf("Email.Validate = %v", err)
	}
	good := bad
	good.From = "bot@example.com"
	if err := good.Validate(); err != nil {
		t.Errorf("Email.Validate of a good one = %v", err)
	}
}

func TestNotifyEmailPasswordFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "smtp-password"), []byte(smtpPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sanasend-bot.yaml")
	yml := strings.ReplaceAll(validYAML, "${SLACK_BOT_TOKEN}", "xoxb-1") + `
notify:
  email:
    host: smtp.example.com
    username: bot
    password_file: smtp-password
    from: bot@example.com
    to: [oncall@example.com]
`
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLACK_SIGNING_SECRET", "secret-signing-secret")
	t.Setenv(CredentialsDirectoryEnv, "")
	c, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.Notify.Email.Password != smtpPassword {
		t.Errorf("password from its file = %q", c.Notify.Email.Password)
	}

	// A file readable by everyone is refused, naming the key, not the content.
	if err := os.Chmod(filepath.Join(dir, "smtp-password"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(cfg)
	if err == nil || !strings.Contains(err.Error(), "notify.email.password_file") || strings.Contains(err.Error(), smtpPassword) {
		t.Errorf("Load with a world-readable password file = %v", err)
	}
}
