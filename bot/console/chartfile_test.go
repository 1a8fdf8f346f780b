//go:build !windows

package console

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/bot/bottest"
	"github.com/sanasend/sanasend-bot/chart"
	"github.com/sanasend/sanasend-bot/history"
)

// uptimeHandler answers every command with an uptime reply carrying a
// real chart, as the router does with chart.Renderer.
type uptimeHandler struct{ reply bot.Reply }

func (h uptimeHandler) Handle(context.Context, bot.Request) bot.Reply { return h.reply }
func (h uptimeHandler) Confirm(context.Context, bot.Request, string) bot.Reply {
	return bot.Reply{Kind: bot.KindError, Text: "no"}
}
func (h uptimeHandler) Cancel(context.Context, bot.Request, string) bot.Reply {
	return bot.Reply{Kind: bot.KindError, Text: "no"}
}

// weekReport is whatsapp's last 7 days to bottest.Now, with a daily series.
func weekReport() history.Report {
	r := bottest.UptimeReport()
	r.From, r.Bucket = bottest.Now.Add(-7*24*time.Hour), 24*time.Hour
	for i := range 7 {
		r.Series = append(r.Series, history.Bucket{Start: r.From.Add(time.Duration(i) * 24 * time.Hour), Healthy: 23 * time.Hour,
			Unhealthy: time.Hour, Uptime: 23.0 / 24, Known: true, ResponseAvg: 4 * time.Millisecond, Checks: 2880})
	}
	return r
}

// TestConsoleWritesChart: `uptime` at the console writes the chart to a new
// file in the chart dir (0700 dir, 0600 file, a valid PNG, byte for byte
// the reply's) and names it; a second chart in the same minute gets a new
// name and leaves the first alone; a chart dir that cannot be made, or
// none, is one clear line after the complete figures.
func TestConsoleWritesChart(t *testing.T) {
	rep := weekReport()
	png0, err := chart.Renderer{}.RenderUptime(rep, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	reply := bot.Reply{Kind: bot.KindUptime, Service: "whatsapp", Uptime: &rep, Chart: png0, At: bottest.Now}
	blocker := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		dir   func(t *testing.T) string // the chart dir ("" for none)
		input string
		files []string // the files the chart dir holds after
	}{
		{"uptime-chart-written", func(t *testing.T) string { return filepath.Join(t.TempDir(), "state", "charts") }, "uptime 7d\n",
			[]string{"whatsapp-uptime-7d-20261128-0310.png"}},
		{"uptime-chart-twice", func(t *testing.T) string { return filepath.Join(t.TempDir(), "charts") }, "uptime 7d\nuptime 7d\n",
			[]string{"whatsapp-uptime-7d-20261128-0310-2.png", "whatsapp-uptime-7d-20261128-0310.png"}},
		{"uptime-chart-dir-unusable", func(*testing.T) string { return filepath.Join(blocker, "charts") }, "uptime 7d\n", nil},
		{"uptime-chart-no-dir", func(*testing.T) string { return "" }, "uptime 7d\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			var out bytes.Buffer
			c, err := New(Config{User: alice, In: strings.NewReader(tc.input), Out: &out, Now: func() time.Time { return bottest.Now },
				ChartDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Run(context.Background(), uptimeHandler{reply}); err != nil {
				t.Fatal(err)
			}
			text := out.String()
			if dir != "" {
				text = strings.ReplaceAll(text, dir, "<chart dir>")
			}
			text = strings.ReplaceAll(text, filepath.Dir(blocker), "<tmp>")
			golden(t, tc.name, text)
			if len(tc.files) == 0 {
				return
			}
			if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("chart dir: %v, %v; want a 0700 directory", fi, err)
			}
			ents, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
				path := filepath.Join(dir, e.Name())
				if !strings.Contains(out.String(), "chart written to "+path+"\n") {
					t.Errorf("the output does not name %s:\n%s", path, out.String())
				}
				fi, err := os.Stat(path)
				if err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: %v, %v; want a 0600 file", e.Name(), fi, err)
				}
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(data, png0) {
					t.Errorf("%s: %d bytes; want the reply's %d bytes", e.Name(), len(data), len(png0))
				}
				img, err := png.Decode(bytes.NewReader(data))
				if err != nil {
					t.Fatalf("%s is not a PNG: %v", e.Name(), err)
				}
				if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
					t.Errorf("%s: %v; want a chart", e.Name(), b)
				}
			}
			if strings.Join(names, " ") != strings.Join(tc.files, " ") {
				t.Errorf("chart dir holds %q; want %q", names, tc.files)
			}
		})
	}
}

// TestWriteChartNeverOverwrites: with every name taken, WriteChart fails
// and leaves each file as it was.
func TestWriteChartNeverOverwrites(t *testing.T) {
	rep := weekReport()
	dir := t.TempDir()
	reply := bot.Reply{Kind: bot.KindUptime, Uptime: &rep, Chart: []byte("new")}
	for i := 1; i <= chartTries; i++ {
		name := "whatsapp-uptime-7d-20261128-0310.png"
		if i > 1 {
			name = strings.Replace(name, ".png", "-"+strconv.Itoa(i)+".png", 1)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path, err := WriteChart(dir, reply, bottest.Now)
	if err == nil || path != "" {
		t.Fatalf("WriteChart = %q, %v; want an error: every name is taken", path, err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if data, _ := os.ReadFile(filepath.Join(dir, e.Name())); string(data) != "old" {
			t.Errorf("%s was overwritten", e.Name())
		}
	}
	if len(ents) != chartTries {
		t.Errorf("%d files; want %d", len(ents), chartTries)
	}
	// A hostile service name stays inside the dir.
	rep.Service = "../../etc/passwd <!channel>"
	if path, err := WriteChart(dir, reply, bottest.Now); err != nil || filepath.Dir(path) != dir {
		t.Errorf("WriteChart(hostile name) = %q, %v; want a file in %s", path, err, dir)
	}
}
