package console

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/internal/syncbuf"
)

// runScript runs a console for alice on input, as a pipe gives it.
func runScript(t *testing.T, h Handler, input string, out io.Writer) error {
	t.Helper()
	c, err := New(Config{User: alice, In: strings.NewReader(input), Out: out, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if c.Interactive() {
		t.Fatal("a strings.Reader is not a terminal")
	}
	return c.Run(context.Background(), h)
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no user", Config{In: strings.NewReader(""), Out: io.Discard}},
		{"no input", Config{User: alice, Out: io.Discard}},
		{"no output", Config{User: alice, In: strings.NewReader("")}},
	}
	for _, tc := range tests {
		if _, err := New(tc.cfg); err == nil {
			t.Errorf("%s: New succeeded; want an error", tc.name)
		}
	}
}

// TestConsoleKeysFromAPipe: arrow keys and editing keys read from a pipe
// edit the line as at a terminal, and a pipe still gets a prompt per line.
func TestConsoleKeysFromAPipe(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{"up recalls the last command", "status\n\x1b[A\n", []string{"handle status as U0ALICE", "handle status as U0ALICE"}},
		{"up twice, then down", "status\nps\n\x1b[A\x1b[A\x1b[B\n", []string{"handle status as U0ALICE", "handle ps as U0ALICE", "handle ps as U0ALICE"}},
		{"backspace", "statuss\x7f\n", []string{"handle status as U0ALICE"}},
		{"left arrow, then insert", "sttus\x1b[D\x1b[D\x1b[Da\n", []string{"handle status as U0ALICE"}},
		{"a confirmation answer is not history", "stop\nn\n\x1b[A\n", []string{"handle stop as U0ALICE", "cancel t1", "handle stop as U0ALICE", "cancel t1"}},
		{"no line: no history", "\x1b[A\nhelp\n", []string{"handle help as U0ALICE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{}
			var out bytes.Buffer
			if err := runScript(t, s, tc.input, &out); err != nil {
				t.Fatal(err)
			}
			if got, want := strings.Join(s.asked, "|"), strings.Join(tc.want, "|"); got != want {
				t.Errorf("input %q: asked %q; want %q", tc.input, got, want)
			}
			// A prompt for every line read.
			if got, want := strings.Count(out.String(), prompt)+strings.Count(out.String(), "[y/N]"), strings.Count(tc.input, "\n"); got < want {
				t.Errorf("input %q: %d prompts; want at least %d in %q", tc.input, got, want, out.String())
			}
			if strings.Contains(out.String(), "\x1b") {
				t.Errorf("input %q: an escape sequence reached the output %q", tc.input, out.String())
			}
		})
	}
}

// blockingHandler answers after release is closed.
type blockingHandler struct {
	scripted
	mu      sync.Mutex
	started chan struct{}
	release chan struct{}
}

func (b *blockingHandler) Handle(ctx context.Context, r bot.Request) bot.Reply {
	close(b.started)
	<-b.release
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.scripted.Handle(ctx, r)
}

// TestConsoleCancelFinishesTheCommand: a command running when ctx is
// cancelled finishes and its reply is written; a read in progress ends.
func TestConsoleCancelFinishesTheCommand(t *testing.T) {
	h := &blockingHandler{started: make(chan struct{}), release: make(chan struct{})}
	pr, pw := io.Pipe()
	defer pw.Close()
	var out syncbuf.Buffer
	c, err := New(Config{User: alice, In: pr, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, h) }()
	if _, err := io.WriteString(pw, "help\n"); err != nil {
		t.Fatal(err)
	}
	<-h.started
	cancel()
	close(h.release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after ctx was cancelled")
	}
	if got := out.String(); !strings.Contains(got, "Commands:") {
		t.Errorf("the reply to the running command is missing: %q", got)
	}
}

// TestAlertWriterOutsideRun: before and after Run, alerts go straight out.
func TestAlertWriterOutsideRun(t *testing.T) {
	var out bytes.Buffer
	c, err := New(Config{User: alice, In: strings.NewReader("quit\n"), Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c.AlertWriter(), "before\n")
	if err := c.Run(context.Background(), &scripted{}); err != nil {
		t.Fatal(err)
	}
	io.WriteString(c.AlertWriter(), "after\n")
	got := out.String()
	if !strings.HasPrefix(got, "before\n") || !strings.HasSuffix(got, "after\n") {
		t.Errorf("output %q; want the alerts first and last", got)
	}
}
