package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/sanasend/sanasend-bot/fleet"
)

// Fleet configures the bots of several hosts over NATS (package fleet).
// Without `embedded: true` or a `url` the bot runs no NATS at all.
type Fleet struct {
	// Host is this host's name in `host/service`; default: the hostname's
	// first label, in lowercase.
	Host string `yaml:"host"`
	// Embedded: a hub runs the NATS server in-process, JetStream in
	// state_dir/nats, listening on Listen.
	Embedded bool `yaml:"embedded"`
	// Listen is the embedded server's address; default 127.0.0.1:4222.
	Listen string `yaml:"listen"`
	// URL is an existing NATS server or cluster (nats:// or tls://),
	// instead of an embedded one; agents always set it.
	URL string `yaml:"url"`
	// Credentials is a NATS .creds file (JWT and nkey seed) or a file with
	// an nkey seed alone, used to connect; "" connects without.
	Credentials string `yaml:"credentials"`
	// TLSCA verifies the server's certificate; TLSCert and TLSKey are this
	// bot's client certificate, or the embedded server's certificate.
	TLSCA   string `yaml:"tls_ca"`
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// AgentTimeout is the silence after which the hub alerts that an agent
	// stopped reporting.
	AgentTimeout time.Duration `yaml:"agent_timeout"`
	// Failover is how long the leading hub's key outlives it: another hub
	// takes over within it.
	Failover time.Duration `yaml:"failover"`
	// SigningKey (hub) is the file with the nkey seed the hub signs its
	// requests to agents with; default state_dir/fleet-hub.nk, made at the
	// hub's first start. `sanasend-bot hub-key` prints its public key.
	SigningKey string `yaml:"signing_key"`
	// AgentKeys (hub with embedded) are the nkey public keys ("U...") of
	// the agents allowed to connect to the embedded server, each agent
	// connecting with its seed in fleet.credentials; "web-2=U..." binds
	// the key to the host it may speak for (its heartbeats, facts and
	// endpoints, nothing of another host's). An agent's key may never touch
	// the hubs' buckets. Empty lets any client that reaches listen connect
	// (it still cannot command an agent: only requests signed by a hub key
	// are obeyed).
	AgentKeys []string `yaml:"agent_keys"`
	// HubKeys (agent) are the public keys of the hubs whose requests the
	// agent obeys.
	HubKeys []string `yaml:"hub_keys"`
}

// AgentKey is one entry of fleet.agent_keys: an agent's public key and
// the host it is bound to ("" when it may speak for any host).
type AgentKey struct {
	Host, Key string
}

// ParseAgentKey reads "U..." or "web-2=U...".
func ParseAgentKey(s string) (AgentKey, error) {
	host, key, bound := strings.Cut(s, "=")
	if !bound {
		host, key = "", s
	}
	if bound {
		if err := fleet.ValidHost(host); err != nil {
			return AgentKey{}, err
		}
	}
	if !nkeys.IsValidPublicUserKey(key) {
		return AgentKey{}, errors.New("want an nkey user public key (U...), or host=U... to bind it to its host")
	}
	return AgentKey{Host: host, Key: key}, nil
}

// Agents are fleet.agent_keys, read; entries that do not parse are left
// out (Validate names them).
func (f Fleet) Agents() []AgentKey {
	var out []AgentKey
	for _, s := range f.AgentKeys {
		if k, err := ParseAgentKey(s); err == nil {
			out = append(out, k)
		}
	}
	return out
}

// Enabled says whether this bot is part of a fleet.
func (f Fleet) Enabled() bool { return f.Embedded || f.URL != "" }

// DefaultFleetListen is the embedded server's default address.
const DefaultFleetListen = "127.0.0.1:4222"

// HubKeyFile is the default name of the hub's signing key in state_dir.
const HubKeyFile = "fleet-hub.nk"

// finishFleet applies the fleet's defaults and makes its paths absolute.
func (c *Config) finishFleet(base string) {
	f := &c.Fleet
	if f.Host == "" && f.Enabled() {
		if h, err := os.Hostname(); err == nil {
			f.Host = strings.ToLower(strings.SplitN(h, ".", 2)[0])
		}
	}
	if f.Embedded && f.Listen == "" {
		f.Listen = DefaultFleetListen
	}
	if !f.Enabled() {
		return
	}
	if f.AgentTimeout == 0 {
		f.AgentTimeout = 60 * time.Second
	}
	if f.Failover == 0 {
		f.Failover = 15 * time.Second
	}
	for _, p := range []*string{&f.Credentials, &f.TLSCA, &f.TLSCert, &f.TLSKey, &f.SigningKey} {
		if *p != "" && !strings.HasPrefix(*p, "~") {
			*p = absUnder(base, *p)
		}
	}
	if f.SigningKey == "" {
		f.SigningKey = filepath.Join(c.StateDir, HubKeyFile)
	}
}

func (c *Config) validateFleet(p *problems) {
	f := &c.Fleet
	if !f.Enabled() {
		if f.Host != "" || f.Listen != "" || len(f.HubKeys) > 0 || f.Credentials != "" {
			p.add("fleet", "fleet keys without a server: set embedded: true (a hub runs NATS in-process) or url (an existing NATS)")
		}
		return
	}
	if f.Embedded && f.URL != "" {
		p.add("fleet.url", "set embedded: true or url, not both: a hub either runs the NATS server or connects to one")
	}
	if err := fleet.ValidHost(f.Host); err != nil {
		p.add("fleet.host", "%s", err)
	}
	if f.URL != "" {
		if !strings.HasPrefix(f.URL, "nats://") && !strings.HasPrefix(f.URL, "tls://") {
			p.add("fleet.url", "%s is not a NATS URL: use nats://host:4222 or tls://host:4222", p.show("fleet.url", f.URL))
		}
	}
	checkDuration(p, "fleet.agent_timeout", f.AgentTimeout)
	checkDuration(p, "fleet.failover", f.Failover)
	if (f.TLSCert == "") != (f.TLSKey == "") {
		p.add("fleet.tls_key", "set tls_cert and tls_key together")
	}
	for i, k := range f.AgentKeys {
		if _, err := ParseAgentKey(k); err != nil {
			path := fmt.Sprintf("fleet.agent_keys[%d]", i)
			p.add(path, "%s: %s", p.show(path, k), err.Error())
		}
	}
	if len(f.AgentKeys) > 0 && !f.Embedded {
		p.add("fleet.agent_keys", "agent_keys are for a hub with embedded: true; an existing NATS server has its own users")
	}
	for i, k := range f.HubKeys {
		if !nkeys.IsValidPublicUserKey(k) && !nkeys.IsValidPublicAccountKey(k) {
			p.add(fmt.Sprintf("fleet.hub_keys[%d]", i), "%s is not an nkey public key (U... or A...): `sanasend-bot hub-key` on the hub prints it", p.show(fmt.Sprintf("fleet.hub_keys[%d]", i), k))
		}
	}
}

// ValidateAgent checks what `agent` needs beyond Validate: a fleet to join
// by URL, hubs to trust, and no Slack secret at all.
func (c *Config) ValidateAgent() error {
	p := newProblems(c)
	f := &c.Fleet
	if f.URL == "" {
		p.add("fleet.url", "an agent needs fleet.url: the NATS server of the hub (e.g. nats://hub:4222)")
	}
	if f.Embedded {
		p.add("fleet.embedded", "an agent does not run the NATS server: the hub does")
	}
	if len(f.HubKeys) == 0 {
		p.add("fleet.hub_keys", "an agent needs the public key of at least one hub: run `sanasend-bot hub-key` on the hub")
	}
	if c.Slack.BotToken != "" || c.Slack.AppToken != "" || c.Slack.SigningSecret != "" ||
		c.Slack.BotTokenFile != "" || c.Slack.AppTokenFile != "" || c.Slack.SigningSecretFile != "" {
		p.add("slack", "an agent holds no Slack secret: remove them from its config (the hub talks to Slack)")
	}
	return p.err()
}
