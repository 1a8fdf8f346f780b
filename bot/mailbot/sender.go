package mailbot

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/sanasend/sanasend-bot/config"
	"github.com/sanasend/sanasend-bot/delivery"
)

// Channel is the outbox channel of every email: one queue, in order.
const Channel = "email"

// DefaultTimeout bounds one SMTP conversation (connect, TLS, login,
// sending) when SenderConfig.Timeout is 0: below the outbox's 30 s per
// attempt.
const DefaultTimeout = 20 * time.Second

// SenderConfig configures a Sender.
type SenderConfig struct {
	// Email is notify.email: server, TLS policy, login, from and to.
	Email config.Email
	// HELO is the name the bot gives itself in EHLO (its host name); ""
	// means "localhost".
	HELO string
	// Timeout bounds one SMTP conversation; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Sender is the outbox's SMTP side (a delivery.Sender): one SMTP
// conversation per attempt, sending one email to every recipient of
// notify.email.to. A 5xx reply is delivery.Permanent (code "smtp_<reply
// code>"); a 4xx reply, a network failure and anything else are retried.
// Its errors never contain the password.
type Sender struct {
	cfg     SenderConfig
	secrets []string // what the errors hide: the password and its encodings
}

var _ delivery.Sender = (*Sender)(nil)

// NewSender validates cfg; it does no I/O.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if err := cfg.Email.Validate(); err != nil {
		return nil, fmt.Errorf("new email sender: %w", err)
	}
	if cfg.Timeout < 0 {
		return nil, errors.New("new email sender: the timeout must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	s := &Sender{cfg: cfg}
	if p := cfg.Email.Password; p != "" {
		u := cfg.Email.Username
		for _, v := range []string{p, "\x00" + u + "\x00" + p, u + "\x00" + p} {
			s.secrets = append(s.secrets, v, base64.StdEncoding.EncodeToString([]byte(v)))
		}
		s.secrets = append(s.secrets, strconv.Quote(p)[1:len(strconv.Quote(p))-1])
	}
	return s, nil
}

// Address is the server's host:port.
func (s *Sender) Address() string {
	return net.JoinHostPort(s.cfg.Email.Host, strconv.Itoa(s.cfg.Email.Port))
}

// client is a go-mail client for one conversation. It does no I/O.
func (s *Sender) client() (*mail.Client, error) {
	e := s.cfg.Email
	opts := []mail.Option{mail.WithPort(e.Port), mail.WithTimeout(s.cfg.Timeout)}
	if s.cfg.HELO != "" {
		opts = append(opts, mail.WithHELO(s.cfg.HELO))
	}
	switch {
	case e.TLS == config.EmailTLSMandatory && e.Port == 465:
		opts = append(opts, mail.WithSSL()) // SMTPS: TLS from the first byte
	case e.TLS == config.EmailTLSMandatory:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case e.TLS == config.EmailTLSOpportunistic:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	}
	if e.Username != "" {
		// The strongest mechanism the server offers of these; PLAIN and
		// LOGIN only over TLS or to this host (go-mail refuses them
		// otherwise), so that a password never crosses a network in clear.
		opts = append(opts, mail.WithUsername(e.Username), mail.WithPassword(e.Password),
			mail.WithOpportunisticSMTPAuth(mail.SMTPAuthSCRAMSHA256, mail.SMTPAuthSCRAMSHA1,
				mail.SMTPAuthCramMD5, mail.SMTPAuthPlain, mail.SMTPAuthLogin))
	}
	c, err := mail.NewClient(e.Host, opts...)
	if err != nil {
		return nil, s.hide(err)
	}
	return c, nil
}

// Send makes one delivery attempt of it: one SMTP conversation. The ts it
// returns is the email's Message-ID.
func (s *Sender) Send(ctx context.Context, it delivery.Item, _ delivery.Target) (channel, ts string, err error) {
	var e Email
	if err := json.Unmarshal(it.Payload, &e); err != nil || e.MessageID == "" {
		if err == nil {
			err = errors.New("no Message-ID")
		}
		return "", "", delivery.Permanent("bad_payload", fmt.Errorf("send email %s: decode payload: %w", it.ID, err))
	}
	msg, err := s.message(e)
	if err != nil {
		return "", "", delivery.Permanent("bad_message", fmt.Errorf("send email %s: %w", it.ID, s.hide(err)))
	}
	c, err := s.client()
	if err != nil {
		return "", "", delivery.Permanent("bad_config", fmt.Errorf("send email %s: %w", it.ID, err))
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return "", "", s.classify(fmt.Sprintf("send email %s via %s", it.ID, s.Address()), err)
	}
	return Channel, e.MessageID, nil
}

// message builds the email e from notify.email.from to notify.email.to.
func (s *Sender) message(e Email) (*mail.Msg, error) {
	m := mail.NewMsg()
	if err := m.From(s.cfg.Email.From); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	if err := m.To(s.cfg.Email.To...); err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	m.Subject(oneLine(e.Subject))
	m.SetMessageIDWithValue(e.MessageID)
	if e.InReplyTo != "" {
		ref := "<" + e.InReplyTo + ">"
		m.SetGenHeader(mail.HeaderInReplyTo, ref)
		m.SetGenHeader(mail.HeaderReferences, ref)
	}
	if e.Date.IsZero() {
		m.SetDate()
	} else {
		m.SetDateWithValue(e.Date)
	}
	m.SetGenHeader(mail.HeaderXAutoResponseSuppress, "All")
	m.SetBodyString(mail.TypeTextPlain, e.Text)
	if e.HTML != "" {
		m.AddAlternativeString(mail.TypeTextHTML, e.HTML)
	}
	for _, a := range e.Attachments {
		if err := m.AttachReader(a.Filename, bytes.NewReader(a.Data), mail.WithFileContentType(mail.ContentType(a.ContentType))); err != nil {
			return nil, fmt.Errorf("attach %s: %w", a.Filename, err)
		}
	}
	return m, nil
}

// Check connects to the server, negotiates TLS as configured, logs in when
// a username is set, and says goodbye: it sends nothing. The error says
// which step failed, without the password.
func (s *Sender) Check(ctx context.Context) error {
	c, err := s.client()
	if err != nil {
		return fmt.Errorf("email: %w", err)
	}
	sc, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		what := "cannot connect to " + s.Address()
		switch {
		case errors.Is(err, smtp.ErrUnencrypted) || errors.Is(err, mail.ErrNoSupportedAuthDiscovered):
			what = fmt.Sprintf("no safe way to log in to %s: it offers no TLS, and the password is never sent in clear: set notify.email.tls to mandatory, or use a server with STARTTLS", s.Address())
		case isAuthRefusal(err):
			what = fmt.Sprintf("%s refused the login of %q: check notify.email.username and password", s.Address(), s.cfg.Email.Username)
		case strings.Contains(err.Error(), "STARTTLS"), isTLSError(err):
			what = fmt.Sprintf("no TLS with %s (notify.email.tls is %s)", s.Address(), s.cfg.Email.TLS)
		case smtpCode(err) != 0:
			what = s.Address() + " refused the connection"
		}
		return fmt.Errorf("email: %s: %w", what, s.hide(err))
	}
	if err := c.CloseWithSMTPClient(sc); err != nil {
		return fmt.Errorf("email: %s: goodbye: %w", s.Address(), s.hide(err))
	}
	return nil
}

// classify wraps err for the outbox, with op, the password hidden: a 5xx
// reply is permanent; a 4xx reply, a network failure and anything else are
// retried.
func (s *Sender) classify(op string, err error) error {
	code := smtpCode(err)
	hidden := fmt.Errorf("%s: %w", op, s.hide(err))
	if code >= 500 && code < 600 {
		return delivery.Permanent("smtp_"+strconv.Itoa(code), hidden)
	}
	return delivery.Retry(hidden)
}

// smtpCode is the SMTP reply code in err (451, 550), or 0 when err is
// not a reply of the server (a network failure).
func smtpCode(err error) int {
	var se *mail.SendError
	if errors.As(err, &se) && se.ErrorCode() != 0 {
		return se.ErrorCode()
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// isAuthRefusal reports whether err is the server refusing the login.
func isAuthRefusal(err error) bool {
	switch smtpCode(err) {
	case 530, 534, 535, 538:
		return true
	}
	return strings.Contains(err.Error(), "SMTP AUTH failed")
}

// isTLSError reports whether err comes from the TLS handshake.
func isTLSError(err error) bool {
	var rh tls.RecordHeaderError
	var cv *tls.CertificateVerificationError
	return errors.As(err, &rh) || errors.As(err, &cv) || strings.Contains(err.Error(), "tls: ") || strings.Contains(err.Error(), "x509: ")
}

// hide returns err as an error whose text has the password hidden. The
// original is not wrapped: nothing down its chain can show the password.
func (s *Sender) hide(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, v := range s.secrets {
		if v != "" {
			msg = strings.ReplaceAll(msg, v, "(password hidden)")
		}
	}
	return &smtpError{msg: msg, code: smtpCode(err)}
}

// smtpError is an error of the SMTP conversation, its text without the
// password.
type smtpError struct {
	msg  string
	code int
}

func (e *smtpError) Error() string { return e.msg }

// Code is the SMTP reply code, or 0 when the server did not reply (a
// network failure).
func (e *smtpError) Code() int { return e.code }
