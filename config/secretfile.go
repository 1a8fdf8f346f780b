package config

// Secrets read from files: slack.bot_token_file, slack.signing_secret_file
// and slack.app_token_file, and systemd's credentials ($CREDENTIALS_DIRECTORY).

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// CredentialsDirectoryEnv is the variable systemd sets to the directory of a
// unit's credentials (LoadCredential=, SetCredential=). A relative
// slack.*_file name resolves against it when it is set.
const CredentialsDirectoryEnv = "CREDENTIALS_DIRECTORY"

// secretFileMax bounds a secret file: it holds one token.
const secretFileMax = 64 << 10

// secretFile is one secret that may come from a file.
type secretFile struct {
	key, fileKey string  // "slack.bot_token", "slack.bot_token_file"
	value, file  *string // the fields of Slack
}

func (c *Config) secretFiles() []secretFile {
	s := &c.Slack
	return []secretFile{
		{"slack.bot_token", "slack.bot_token_file", &s.BotToken, &s.BotTokenFile},
		{"slack.signing_secret", "slack.signing_secret_file", &s.SigningSecret, &s.SigningSecretFile},
		{"slack.app_token", "slack.app_token_file", &s.AppToken, &s.AppTokenFile},
		{"notify.email.password", "notify.email.password_file", &c.Notify.Email.Password, &c.Notify.Email.PasswordFile},
	}
}

// resolveSecretFiles makes the secret files' names absolute: a relative name
// resolves against credDir when it is not empty, else against base (the
// config file's directory). A name starting with ~ is left for validate.
func (c *Config) resolveSecretFiles(base, credDir string) {
	for _, sf := range c.secretFiles() {
		name := *sf.file
		if name == "" || filepath.IsAbs(name) || strings.HasPrefix(name, "~") || looksLikeToken(name) {
			continue
		}
		if credDir != "" {
			*sf.file = filepath.Join(credDir, name)
		} else {
			*sf.file = filepath.Join(base, name)
			c.besideConfig = append(c.besideConfig, sf.fileKey)
		}
	}
}

// validateSecretFiles checks that each secret is given once, by value or by
// file, and that a file name is a name.
func (c *Config) validateSecretFiles(p *problems) {
	for _, sf := range c.secretFiles() {
		name := *sf.file
		switch {
		case name == "":
		case looksLikeToken(name):
			p.add(sf.fileKey, "(value hidden) looks like a Slack token, not a file name: put the token in the file it names, or in %s", sf.key)
		case *sf.value != "" && !c.fromFile(sf):
			p.add(sf.fileKey, "set either %s or %s, not both", sf.key, sf.fileKey)
		case strings.HasPrefix(name, "~"):
			p.add(sf.fileKey, "%s: ~ is not expanded: use an absolute path, ${HOME}/..., or a name relative to $%s or to the config file", p.show(sf.fileKey, name), CredentialsDirectoryEnv)
		}
	}
}

// fromFile reports whether the secret of sf was read from its file.
func (c *Config) fromFile(sf secretFile) bool { return slices.Contains(c.readFrom, sf.fileKey) }

// readSecretFiles reads each secret whose file is named into the secret. It
// returns a problem per file that cannot be used; the secret then stays
// empty. The problems name the file, never its content.
func (c *Config) readSecretFiles() []*FieldError {
	var errs []*FieldError
	for _, sf := range c.secretFiles() {
		name := *sf.file
		if name == "" || !filepath.IsAbs(name) || looksLikeToken(name) || *sf.value != "" {
			continue // validate says why
		}
		v, err := readSecretFile(name)
		if err != nil {
			msg := err.Error()
			if errors.Is(err, fs.ErrNotExist) && slices.Contains(c.besideConfig, sf.fileKey) {
				msg += " ($" + CredentialsDirectoryEnv + " is not set, so a relative name is beside the config file)"
			}
			errs = append(errs, &FieldError{Path: sf.fileKey, Line: c.line(sf.fileKey), Msg: msg})
			continue
		}
		*sf.value = v
		c.readFrom = append(c.readFrom, sf.fileKey)
	}
	return errs
}

// readSecretFile returns the content of the secret file name, without its
// trailing newline. The file must be a regular file (after symlinks, as
// systemd's credentials may be), not readable by every user, not empty and
// at most secretFileMax bytes. The error is a sentence naming the file.
func readSecretFile(name string) (string, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return "", secretFileError(name, err)
	}
	if err := checkSecretFileInfo(name, fi); err != nil {
		return "", err
	}
	f, err := os.Open(name)
	if err != nil {
		return "", secretFileError(name, err)
	}
	defer f.Close()
	// The file may have been replaced between Stat and Open: check what was
	// opened.
	if fi, err = f.Stat(); err != nil {
		return "", secretFileError(name, err)
	}
	if err := checkSecretFileInfo(name, fi); err != nil {
		return "", err
	}
	data, err := io.ReadAll(io.LimitReader(f, secretFileMax+1))
	switch {
	case err != nil:
		return "", secretFileError(name, err)
	case len(data) > secretFileMax:
		return "", fmt.Errorf("%s is larger than %d KiB: it must hold the secret only", name, secretFileMax>>10)
	}
	v := strings.TrimRight(string(data), "\r\n")
	if strings.TrimSpace(v) == "" {
		return "", fmt.Errorf("%s is empty: write the secret in it", name)
	}
	return v, nil
}

func checkSecretFileInfo(name string, fi fs.FileInfo) error {
	m := fi.Mode()
	switch {
	case m.IsDir():
		return fmt.Errorf("%s is a directory, not a file", name)
	case !m.IsRegular():
		return fmt.Errorf("%s is not a regular file", name)
	case runtime.GOOS != "windows" && m.Perm()&0o004 != 0:
		return fmt.Errorf("%s is readable by every user (mode %04o): make it readable by the bot's user only, e.g. chmod 600 %s", name, m.Perm(), name)
	}
	return nil
}

// secretFileError is a sentence for a failed stat, open or read of the
// secret file name; it wraps err (errors.Is(err, fs.ErrNotExist) holds).
func secretFileError(name string, err error) error {
	var msg string
	switch {
	case errors.Is(err, fs.ErrNotExist):
		msg = name + " does not exist"
	case errors.Is(err, fs.ErrPermission):
		msg = name + " cannot be read by the bot's user (permission denied)"
	default:
		cause := err
		var pe *fs.PathError
		if errors.As(err, &pe) {
			cause = pe.Err
		}
		msg = fmt.Sprintf("cannot read %s: %v", name, cause)
	}
	return &fileError{msg: msg, err: err}
}

// fileError is an error with its own sentence, wrapping its cause.
type fileError struct {
	msg string
	err error
}

func (e *fileError) Error() string { return e.msg }
func (e *fileError) Unwrap() error { return e.err }

// looksLikeToken reports whether s is a Slack token rather than a file name:
// one written in a *_file key by mistake must not be shown in an error.
func looksLikeToken(s string) bool {
	for _, pre := range []string{"xoxb-", "xoxp-", "xapp-", "xoxa-", "xoxe"} {
		if strings.HasPrefix(s, pre) {
			return true
		}
	}
	return false
}

// SecretEnv returns the names of the variables of environ (in os.Environ's
// form) that hold or gave a Slack secret: the SLACK_* variables expanded into
// the config's values, the variables expanded into the Slack secrets, every
// variable whose value is one of Secrets, and $CREDENTIALS_DIRECTORY (where
// the bot's systemd credentials are: nothing the bot starts needs it). The
// bot drops them from its environment once the config is loaded, before it
// starts anything. Sorted, without duplicates.
func (c *Config) SecretEnv(environ []string) []string {
	var names []string
	for path, refs := range c.refs {
		secret := path == "slack.bot_token" || path == "slack.signing_secret" || path == "slack.app_token"
		for _, r := range refs {
			if secret || strings.HasPrefix(r, "SLACK_") {
				names = append(names, r)
			}
		}
	}
	secrets := c.Secrets()
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if ok && (name == CredentialsDirectoryEnv || value != "" && slices.Contains(secrets, value)) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}
