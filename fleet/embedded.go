package fleet

// Embedded: the NATS server a hub runs in its own process, with JetStream
// on the state dir.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"
)

// EmbeddedConfig says how a hub runs its NATS server.
type EmbeddedConfig struct {
	// StoreDir is where JetStream keeps its streams and buckets (the hub's
	// state dir + "/nats"): absolute; made 0700 at Start.
	StoreDir string
	// Listen is the address agents connect to ("127.0.0.1:4222"; port 0
	// picks a free one); "" listens nowhere: in-process clients only.
	Listen string
	// Name is the server's name in the NATS cluster ("sanasend-hub-web-1").
	Name string
	// Users are the nkey public keys ("U...") allowed to connect with
	// every right (the hubs'); with Agents empty too, any client that
	// reaches Listen connects (what it may do is still bounded: agents act
	// only on requests the hub signed).
	Users []string
	// Agents are the agents' keys, each allowed what an agent does and
	// nothing more (AgentPermissions).
	Agents []AgentUser
	// TLSCert and TLSKey, when set, make the server speak TLS only.
	TLSCert, TLSKey string
	// ReadyTimeout bounds the wait for the server to accept connections;
	// zero means 10 s.
	ReadyTimeout time.Duration
	Logger       zerolog.Logger
}

// AgentUser is an agent's nkey public key and the host it speaks for; ""
// for any host.
type AgentUser struct {
	Key, Host string
}

// AgentPermissions is what an agent's connection may do: publish its
// host's heartbeats, facts (into the facts stream, whose acknowledgement
// comes to its inbox) and action events, answer requests (replies go to
// the asker's inbox), and receive its host's endpoint requests and the
// micro discovery's; host "" stands for any host. Nothing else: not the
// hubs' buckets, not another host's subjects, not JetStream's API.
func AgentPermissions(host string) *server.Permissions {
	h := host
	if h == "" {
		h = "*"
	}
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{
			HeartbeatSubject(h), FactsSubject(h), EventsSubject(h, ">"), "_INBOX.>",
		}},
		Subscribe: &server.SubjectPermission{Allow: []string{
			AgentSubject(h, ">"), "$SRV.>", "_INBOX.>",
		}},
	}
}

// Embedded is a NATS server with JetStream, in this process.
type Embedded struct {
	cfg  EmbeddedConfig
	opts *server.Options
	srv  *server.Server
}

// NewEmbedded validates cfg. It starts nothing and touches no file.
func NewEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if !filepath.IsAbs(cfg.StoreDir) {
		return nil, fmt.Errorf("embedded nats: store dir %q is not an absolute path", cfg.StoreDir)
	}
	opts := &server.Options{
		ServerName: cfg.Name,
		JetStream:  true,
		StoreDir:   filepath.Clean(cfg.StoreDir),
		NoSigs:     true, // the bot handles its own signals
		DontListen: cfg.Listen == "",
		// No HTTP monitoring port, no cluster, no leaf nodes: agents
		// connect as clients.
		HTTPPort: 0,
	}
	if cfg.Listen != "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: listen %q: %w", cfg.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return nil, fmt.Errorf("embedded nats: listen %q: bad port", cfg.Listen)
		}
		opts.Host, opts.Port = host, p
		if p == 0 {
			opts.Port = server.RANDOM_PORT
		}
	}
	for _, k := range cfg.Users {
		if !nkeys.IsValidPublicUserKey(k) {
			return nil, fmt.Errorf("embedded nats: %q is not an nkey user public key", k)
		}
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: k})
	}
	for _, a := range cfg.Agents {
		if !nkeys.IsValidPublicUserKey(a.Key) {
			return nil, fmt.Errorf("embedded nats: %q is not an nkey user public key", a.Key)
		}
		if a.Host != "" {
			if err := ValidHost(a.Host); err != nil {
				return nil, fmt.Errorf("embedded nats: agent key %s: %w", a.Key, err)
			}
		}
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: a.Key, Permissions: AgentPermissions(a.Host)})
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("embedded nats: a TLS certificate needs its key, and a key its certificate")
	}
	if cfg.TLSCert != "" {
		opts.TLS = true
		opts.TLSTimeout = 2
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 10 * time.Second
	}
	return &Embedded{cfg: cfg, opts: opts}, nil
}

// errNotReady is why Start fails when the server does not come up in time.
var errNotReady = errors.New("not accepting connections in time")

// Start makes the store dir and runs the server until Shutdown; it returns
// once the server accepts connections.
func (e *Embedded) Start(ctx context.Context) error {
	if e.srv != nil {
		return errors.New("embedded nats: started already")
	}
	if err := os.MkdirAll(e.opts.StoreDir, 0o700); err != nil {
		return fmt.Errorf("embedded nats: %w", err)
	}
	if e.cfg.TLSCert != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: e.cfg.TLSCert, KeyFile: e.cfg.TLSKey})
		if err != nil {
			return fmt.Errorf("embedded nats: TLS: %w", err)
		}
		e.opts.TLSConfig = tc
	}
	srv, err := server.NewServer(e.opts)
	if err != nil {
		return fmt.Errorf("embedded nats: %w", err)
	}
	srv.SetLoggerV2(natsLogger{e.cfg.Logger.With().Str("component", "nats").Logger()}, false, false, false)
	srv.Start()
	deadline := time.Now().Add(e.cfg.ReadyTimeout)
	for !srv.ReadyForConnections(100 * time.Millisecond) {
		if ctx.Err() != nil || time.Now().After(deadline) {
			srv.Shutdown()
			srv.WaitForShutdown()
			if ctx.Err() != nil {
				return fmt.Errorf("embedded nats: %w", ctx.Err())
			}
			return fmt.Errorf("embedded nats: %w", errNotReady)
		}
	}
	e.srv = srv
	return nil
}

// Server is the running server (for nats.InProcessServer), nil before
// Start.
func (e *Embedded) Server() *server.Server { return e.srv }

// ClientURL is where agents connect ("nats://127.0.0.1:4222"), "" when the
// server listens nowhere or is not started.
func (e *Embedded) ClientURL() string {
	if e.srv == nil || e.opts.DontListen {
		return ""
	}
	return e.srv.ClientURL()
}

// Shutdown stops the server and waits until it has stopped: JetStream's
// files are flushed and closed. It is safe to call twice.
func (e *Embedded) Shutdown() {
	if e.srv == nil {
		return
	}
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// natsLogger writes the server's log lines to the bot's log.
type natsLogger struct{ log zerolog.Logger }

func (l natsLogger) Noticef(format string, v ...any) { l.log.Info().Msgf(format, v...) }
func (l natsLogger) Warnf(format string, v ...any)   { l.log.Warn().Msgf(format, v...) }
func (l natsLogger) Fatalf(format string, v ...any)  { l.log.Error().Msgf(format, v...) }
func (l natsLogger) Errorf(format string, v ...any)  { l.log.Error().Msgf(format, v...) }
func (l natsLogger) Debugf(format string, v ...any)  { l.log.Debug().Msgf(format, v...) }
func (l natsLogger) Tracef(format string, v ...any)  { l.log.Trace().Msgf(format, v...) }
