package config

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
)

// Notify configures the notifiers beside Slack: today, email.
type Notify struct {
	Email Email `yaml:"email"`
}

// The TLS policies of notify.email.tls.
const (
	// EmailTLSMandatory refuses a server without TLS: STARTTLS, or TLS from
	// the first byte on port 465 (SMTPS).
	EmailTLSMandatory = "mandatory"
	// EmailTLSOpportunistic uses STARTTLS when the server offers it.
	EmailTLSOpportunistic = "opportunistic"
	// EmailTLSNone never encrypts: for a relay on the same host.
	EmailTLSNone = "none"
)

// The kinds of notices notify.email.kinds may name.
const (
	EmailKindAlert       = "alert"       // a new alert, and auto-restart giving up
	EmailKindResolved    = "resolved"    // an alert resolved
	EmailKindDigest      = "digest"      // the daily and the weekly digest
	EmailKindReminder    = "reminder"    // an open alert nobody acknowledged
	EmailKindRestoration = "restoration" // the session restoration summary of a start
	EmailKindMaintenance = "maintenance" // a maintenance window begins, changes or ends
)

// emailKinds are the kinds notify.email.kinds accepts, in the order the
// errors list them.
var emailKinds = []string{EmailKindAlert, EmailKindResolved, EmailKindDigest, EmailKindReminder, EmailKindRestoration, EmailKindMaintenance}

// defaultEmailKinds is notify.email.kinds when the key is absent.
func defaultEmailKinds() []string {
	return []string{EmailKindAlert, EmailKindResolved, EmailKindDigest}
}

// DefaultEmailPort is notify.email.port when it is not set: SMTP
// submission with STARTTLS.
const DefaultEmailPort = 587

// Email configures the email notifier (package bot/mailbot). It is off
// unless Host is set; any other key set without a host is an error.
type Email struct {
	// Host is the SMTP server's host name.
	Host string `yaml:"host"`
	// Port is the SMTP server's port. Default 587; with TLS mandatory, 465
	// means TLS from the first byte (SMTPS) rather than STARTTLS.
	Port int `yaml:"port"`
	// TLS is the TLS policy: "mandatory" (default), "opportunistic" or
	// "none". After Parse it is lowercase.
	TLS string `yaml:"tls"`
	// Username and Password authenticate with SMTP AUTH; both or neither.
	// Password is a secret: give it as ${ENV} or in the file named by
	// PasswordFile (read like slack.*_file), never in the file itself.
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// From is the sender's address ("sanasend-bot@example.com", or
	// "Sanasend <sanasend-bot@example.com>").
	From string `yaml:"from"`
	// To are the recipients' addresses; at least one.
	To []string `yaml:"to"`
	// Kinds are the kinds of notices sent by email (EmailKind*). Default
	// alert, resolved and digest.
	Kinds []string `yaml:"kinds"`
}

// Enabled reports whether email notifications are configured.
func (e Email) Enabled() bool { return e.Host != "" }

// Wants reports whether notices of kind (an EmailKind* constant) are sent
// by email.
func (e Email) Wants(kind string) bool { return slices.Contains(e.Kinds, kind) }

// configured reports whether any key of notify.email is set.
func (e Email) configured() bool {
	return e.Host != "" || e.Port != 0 || e.TLS != "" || e.Username != "" || e.Password != "" ||
		e.PasswordFile != "" || e.From != "" || e.To != nil || e.Kinds != nil
}

// finishNotify applies notify.email's defaults, when it is configured.
func (c *Config) finishNotify() {
	e := &c.Notify.Email
	if !e.configured() {
		return
	}
	if e.Port == 0 {
		e.Port = DefaultEmailPort
	}
	e.TLS = strings.ToLower(e.TLS)
	if e.TLS == "" {
		e.TLS = EmailTLSMandatory
	}
	if e.Kinds == nil {
		e.Kinds = defaultEmailKinds()
	}
}

// validateNotify checks notify.email when any of it is set.
func (c *Config) validateNotify(p *problems) {
	e := &c.Notify.Email
	if !e.configured() {
		return
	}
	validateEmail(p, e)
}

// Validate checks an email configuration on its own, as Parse does for
// notify.email (for one built in code: set Port, TLS and Kinds, which Parse
// defaults). The errors name the keys under notify.email and never show
// the password.
func (e Email) Validate() error {
	c := &Config{Notify: Notify{Email: e}}
	p := newProblems(c)
	validateEmail(p, &c.Notify.Email)
	return p.err()
}

func validateEmail(p *problems, e *Email) {
	const at = "notify.email."
	p.secrets = appendSecret(p.secrets, e.Password)
	if e.Host == "" {
		p.add(at+"host", "is required: the SMTP server's host name (or remove notify.email to send no email)")
	} else if strings.ContainsAny(e.Host, " /:@\t") {
		p.add(at+"host", "%s is not a host name: give the name alone, e.g. smtp.example.com, and the port in notify.email.port", p.show(at+"host", e.Host))
	}
	if e.Port < 1 || e.Port > 65535 {
		p.add(at+"port", "%d is not a port: use 1 to 65535, e.g. 587", e.Port)
	}
	switch e.TLS {
	case EmailTLSMandatory, EmailTLSOpportunistic, EmailTLSNone:
	default:
		p.add(at+"tls", "%s is not a TLS policy: use mandatory, opportunistic or none", p.show(at+"tls", e.TLS))
	}
	switch {
	case e.Username != "" && e.Password == "" && e.PasswordFile == "":
		p.add(at+"password", "is required with notify.email.username: give it as ${ENV} or in a file named by notify.email.password_file%s", p.c.fromEnv(at+"password"))
	case e.Username == "" && (e.Password != "" || e.PasswordFile != ""):
		p.add(at+"username", "is required with a password: SMTP AUTH needs both")
	}
	if e.From == "" {
		p.add(at+"from", "is required: the sender's address, e.g. sanasend-bot@example.com")
	} else {
		checkAddress(p, at+"from", e.From)
	}
	if len(e.To) == 0 {
		p.add(at+"to", "list at least one recipient's address, e.g. [oncall@example.com]")
	}
	for i, a := range e.To {
		checkAddress(p, fmt.Sprintf("%sto[%d]", at, i), a)
	}
	if e.Kinds != nil && len(e.Kinds) == 0 {
		p.add(at+"kinds", "is empty: list at least one of %s, or remove the key for alert, resolved and digest", strings.Join(emailKinds, ", "))
	}
	for i, k := range e.Kinds {
		if !slices.Contains(emailKinds, k) {
			path := fmt.Sprintf("%skinds[%d]", at, i)
			p.add(path, "%s is not a kind of notice: use %s", p.show(path, k), strings.Join(emailKinds, ", "))
		}
	}
}

// checkAddress checks that s is one email address, with or without a name.
func checkAddress(p *problems, path, s string) {
	if _, err := mail.ParseAddress(s); err != nil || strings.ContainsAny(s, "\r\n") {
		p.add(path, "%s is not an email address, e.g. oncall@example.com or \"On call <oncall@example.com>\"", p.show(path, s))
	}
}

// appendSecret adds s to secrets when it is long enough to hide safely
// (see secretValues), longest first.
func appendSecret(secrets []string, s string) []string {
	if len(s) < 8 || slices.Contains(secrets, s) {
		return secrets
	}
	secrets = append(secrets, s)
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	return secrets
}
