package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/config"
	"github.com/sanasend/sanasend-bot/fleet"
	"github.com/sanasend/sanasend-bot/fleet/sign"
	"github.com/sanasend/sanasend-bot/internal/statefile"
)

// fleetLink is a bot's way into the fleet: the embedded NATS server of a
// hub that runs one, the connection and its JetStream.
type fleetLink struct {
	emb *fleet.Embedded // nil: the server is elsewhere (fleet.url)
	nc  *nats.Conn
	js  jetstream.JetStream
	// connected is closed once the connection is up: a bot started
	// while its NATS server is away connects when it comes.
	connected chan struct{}
	once      sync.Once
}

// openFleet starts the embedded server (a hub with fleet.embedded) and
// connects to it or to fleet.url. name is how the connection introduces
// itself ("hub web-1", "agent web-2").
func openFleet(ctx context.Context, cfg *config.Config, log zerolog.Logger, name string) (*fleetLink, error) {
	f := cfg.Fleet
	l := &fleetLink{connected: make(chan struct{})}
	opts, err := natsOptions(f, log, name)
	if err != nil {
		return nil, err
	}
	opts = append(opts, nats.RetryOnFailedConnect(true), nats.ConnectHandler(func(*nats.Conn) {
		log.Info().Msg("fleet: connected to NATS")
		l.up()
	}))
	target := f.URL
	if f.Embedded {
		ec := fleet.EmbeddedConfig{
			StoreDir: filepath.Join(cfg.StateDir, "nats"), Listen: f.Listen, Name: "sanasend-hub-" + f.Host, Logger: log,
			TLSCert: f.TLSCert, TLSKey: f.TLSKey,
		}
		if len(f.AgentKeys) > 0 {
			// The hub's own connection signs in with its signing key.
			signer, err := hubSigner(cfg)
			if err != nil {
				return nil, err
			}
			ec.Users = []string{signer.PublicKey()}
			for _, k := range f.Agents() {
				ec.Agents = append(ec.Agents, fleet.AgentUser{Key: k.Key, Host: k.Host})
			}
			o, err := nats.NkeyOptionFromSeed(f.SigningKey)
			if err != nil {
				return nil, fmt.Errorf("fleet: the hub's key: %w", err)
			}
			opts = append(opts, o)
		}
		emb, err := fleet.NewEmbedded(ec)
		if err != nil {
			return nil, err
		}
		if err := emb.Start(ctx); err != nil {
			return nil, err
		}
		l.emb = emb
		opts = append(opts, nats.InProcessServer(emb.Server()))
		target = ""
		log.Info().Str("listen", emb.ClientURL()).Msg("fleet: NATS server running in this process")
	}
	nc, err := nats.Connect(target, opts...)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("fleet: connect to %s: %w", redactURL(target), err)
	}
	l.nc = nc
	if nc.IsConnected() {
		l.up()
	} else {
		log.Warn().Str("server", redactURL(target)).Msg("fleet: NATS is away; connecting when it comes")
	}
	if l.js, err = jetstream.New(nc); err != nil {
		l.Close()
		return nil, fmt.Errorf("fleet: jetstream: %w", err)
	}
	return l, nil
}

func (l *fleetLink) up() { l.once.Do(func() { close(l.connected) }) }

// Close drains the connection and stops the embedded server.
func (l *fleetLink) Close() {
	if l.nc != nil {
		_ = l.nc.Drain()
		deadline := time.Now().Add(5 * time.Second)
		for !l.nc.IsClosed() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		l.nc.Close()
	}
	if l.emb != nil {
		l.emb.Shutdown()
	}
}

// natsOptions are the connection's options from fleet: credentials, TLS,
// endless reconnects, and its news in the log (never a URL's password).
func natsOptions(f config.Fleet, log zerolog.Logger, name string) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name("sanasend " + name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn().Err(err).Msg("fleet: disconnected from NATS; reconnecting")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info().Str("server", redactURL(nc.ConnectedUrl())).Msg("fleet: reconnected to NATS")
		}),
		// A permissions violation: a key bound to another host than
		// fleet.host in the hub's agent_keys, or an account's limits.
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			ev := log.Error().Err(err)
			if sub != nil {
				ev = ev.Str("subject", sub.Subject)
			}
			ev.Msg("fleet: NATS refused what this bot asked (is its key bound to another host in the hub's agent_keys?)")
		}),
	}
	if f.Credentials != "" {
		kind, err := credentialsKind(f.Credentials)
		if err != nil {
			return nil, err
		}
		if kind == "seed" {
			o, err := nats.NkeyOptionFromSeed(f.Credentials)
			if err != nil {
				return nil, fmt.Errorf("fleet.credentials: %w", err)
			}
			opts = append(opts, o)
		} else {
			opts = append(opts, nats.UserCredentials(f.Credentials))
		}
	}
	if f.TLSCA != "" {
		opts = append(opts, nats.RootCAs(f.TLSCA))
	}
	if f.TLSCert != "" && !f.Embedded {
		opts = append(opts, nats.ClientCert(f.TLSCert, f.TLSKey))
	}
	return opts, nil
}

// credentialsKind tells a .creds file ("creds") from a file holding an
// nkey seed alone ("seed"), without putting a byte of either in an error.
func credentialsKind(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("fleet.credentials: %w", errors.Unwrap(err))
	}
	s := strings.TrimSpace(string(data))
	switch {
	case strings.Contains(s, "-----BEGIN NATS USER JWT-----"):
		return "creds", nil
	case strings.HasPrefix(s, "SU") || strings.HasPrefix(s, "SA"):
		return "seed", nil
	}
	return "", fmt.Errorf("fleet.credentials: %s holds neither a NATS .creds file nor an nkey seed", path)
}

// redactURL drops a URL's user and password for the log.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = nil
	return u.String()
}

// hubSigner is the hub's signing key: read from fleet.signing_key, made
// (0600) at the first start when it is the default file in the state dir.
func hubSigner(cfg *config.Config) (*sign.Signer, error) {
	path := cfg.Fleet.SigningKey
	if path == "" {
		return nil, errors.New("fleet: a hub needs fleet.signing_key")
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && path == filepath.Join(cfg.StateDir, config.HubKeyFile) {
		kp, kerr := nkeys.CreateUser()
		if kerr != nil {
			return nil, fmt.Errorf("fleet: make the hub's key: %w", kerr)
		}
		seed, kerr := kp.Seed()
		if kerr != nil {
			return nil, fmt.Errorf("fleet: make the hub's key: %w", kerr)
		}
		if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
			return nil, fmt.Errorf("fleet: make the hub's key: %w", err)
		}
		if err := statefile.WriteAtomic(path, seed); err != nil {
			return nil, fmt.Errorf("fleet: make the hub's key: %w", err)
		}
		data, err = seed, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fleet: the hub's signing key: %w", err)
	}
	return sign.NewSigner([]byte(strings.TrimSpace(string(data))), nil)
}

// runHubKey prints the public key agents must list in fleet.hub_keys.
func runHubKey(configPath string, args []string, stdout io.Writer) error {
	fs := newFlagSet("hub-key", stdout)
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	cfg, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	if !cfg.Fleet.Enabled() {
		return fmt.Errorf("config %s: no fleet here: a hub has fleet.embedded: true or fleet.url", cfg.Path())
	}
	s, err := hubSigner(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, s.PublicKey())
	return nil
}
