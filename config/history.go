package config

// History configures the services' history database (history.db in the
// state dir).
type History struct {
	// MaxSize caps the database file (0: no cap), so the history never
	// fills the disk it shares with the service. At the cap it behaves as
	// on a full disk: the bot keeps supervising and alerting, status,
	// doctor and /metrics say the writes fail, and writes resume by
	// themselves once there is room (retention deleting old rows, or a
	// higher cap after a restart).
	MaxSize ByteSize `yaml:"max_size"`
}

// minHistorySize is the smallest cap: the schema alone takes some pages.
const minHistorySize = 1 << 20

func (c *Config) validateHistory(p *problems) {
	if b := c.History.MaxSize; b > 0 && b < minHistorySize {
		p.add("history.max_size", "%s is too small: the minimum is %s (or 0 for no cap)", b, ByteSize(minHistorySize))
	}
}
