package mailbot

import (
	"io"
	"log"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"go.uber.org/goleak"

	"github.com/sanasend/sanasend-bot/config"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	testUser     = "sanasend-bot"
	testPassword = "s3cret-SMTP-pa55word"
)

// received is one message the server accepted.
type received struct {
	From string
	To   []string
	Data string
}

// smtpServer is a real SMTP server (go-smtp) on 127.0.0.1: AUTH PLAIN with
// testUser and testPassword over plain TCP, and a backend that records
// what it accepts. Its replies to DATA and RCPT can be scripted: each
// error in dataErrs (rcptErrs) answers one DATA (RCPT) in turn, nil
// accepts. A failed login is answered 535 quoting the password back, as a
// hostile or careless server might.
type smtpServer struct {
	addr string
	port int

	mu       sync.Mutex
	msgs     []received
	dataErrs []error
	rcptErrs []error
	logins   int
	changed  chan struct{}
}

func newSMTPServer(t *testing.T) *smtpServer {
	t.Helper()
	return newSMTPServerOn(t, "127.0.0.1:0")
}

// newSMTPServerOn is newSMTPServer listening on addr.
func newSMTPServerOn(t *testing.T, addr string) *smtpServer {
	t.Helper()
	s := &smtpServer{changed: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{srv: s}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	s.addr = ln.Addr().String()
	s.port = ln.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return s
}

// email is a notify.email for this server, without TLS.
func (s *smtpServer) email(kinds ...string) config.Email {
	if len(kinds) == 0 {
		kinds = []string{config.EmailKindAlert, config.EmailKindResolved, config.EmailKindDigest}
	}
	return config.Email{Host: "127.0.0.1", Port: s.port, TLS: config.EmailTLSNone, Username: testUser, Password: testPassword,
		From: "Sanasend <bot@example.com>", To: []string{"oncall@example.com", "ops@example.com"}, Kinds: kinds}
}

func (s *smtpServer) script(data, rcpt []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dataErrs, s.rcptErrs = data, rcpt
}

func (s *smtpServer) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

// waitMessages waits until the server holds n messages.
func (s *smtpServer) waitMessages(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		got, changed := len(s.msgs), s.changed
		s.mu.Unlock()
		if got >= n {
			return s.messages()
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("the server holds %d messages after 10s, want %d", got, n)
		}
	}
}

func (s *smtpServer) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

type smtpSession struct {
	srv  *smtpServer
	auth bool
	from string
	to   []string
}

func (ss *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != testUser || password != testPassword {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8},
				Message: "authentication failed for " + username + " with password " + password}
		}
		ss.auth = true
		ss.srv.mu.Lock()
		ss.srv.logins++
		ss.srv.mu.Unlock()
		return nil
	}), nil
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if !ss.auth {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !ss.auth {
		return smtp.ErrAuthRequired
	}
	if err := ss.srv.next(&ss.srv.rcptErrs); err != nil {
		return err
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	if !ss.auth {
		return smtp.ErrAuthRequired
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := ss.srv.next(&ss.srv.dataErrs); err != nil {
		return err
	}
	ss.srv.mu.Lock()
	defer ss.srv.mu.Unlock()
	ss.srv.msgs = append(ss.srv.msgs, received{From: ss.from, To: ss.to, Data: string(b)})
	ss.srv.notifyLocked()
	return nil
}

// next pops the next scripted reply of list; nil accepts.
func (s *smtpServer) next(list *[]error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(*list) == 0 {
		return nil
	}
	err := (*list)[0]
	*list = (*list)[1:]
	s.notifyLocked()
	return err
}

func (ss *smtpSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *smtpSession) Logout() error { return nil }

// smtpReply is a scripted refusal.
func smtpReply(code int, msg string) error {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0}, Message: msg}
}
