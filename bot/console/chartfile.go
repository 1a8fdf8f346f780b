package console

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/internal/human"
)

// ErrNoChartDir is why a chart is not written when the console has no
// Config.ChartDir.
var ErrNoChartDir = errors.New("the console has no chart directory")

// chartTries bounds the names tried for one chart: name.png, name-2.png ...
const chartTries = 100

// WriteChart writes the PNG chart of an uptime reply in dir, creating dir
// (0700) if needed, to a new file (0600) named for the service, the window
// and the time in now's zone: "whatsapp-uptime-7d-20261204-1930.png". It
// never overwrites a file: when the name is taken it adds "-2", "-3"...
// It returns the file's path. A reply without a chart writes nothing and
// returns "".
func WriteChart(dir string, r bot.Reply, now time.Time) (string, error) {
	if r.Kind != bot.KindUptime || r.Uptime == nil || len(r.Chart) == 0 {
		return "", nil
	}
	if dir == "" {
		return "", ErrNoChartDir
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("write chart: %w", err)
	}
	base := fmt.Sprintf("%s-uptime-%s-%s", chartFileWord(r.Uptime.Service), bot.PeriodWord(r.Uptime.To.Sub(r.Uptime.From)),
		now.Format("20060102-1504"))
	for i := 1; i <= chartTries; i++ {
		name := base + ".png"
		if i > 1 {
			name = fmt.Sprintf("%s-%d.png", base, i)
		}
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("write chart: %w", err)
		}
		_, werr := f.Write(r.Chart)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			_ = os.Remove(path) // a partial PNG helps nobody
			return "", fmt.Errorf("write chart %s: %w", path, werr)
		}
		return path, nil
	}
	return "", fmt.Errorf("write chart: %s.png and %d more names are taken in %s", base, chartTries-1, dir)
}

// chartFileWord is a service name fit for a file name: letters, digits,
// '.', '_' and '-'; anything else becomes '_'.
func chartFileWord(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		}
		return '_'
	}, human.Cut(s, 60))
	if s == "" {
		return "service"
	}
	return s
}
