//go:build linux

package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/internal/syncbuf"
)

// openPTY opens a pseudo-terminal, 80 columns wide: the test types on
// master and reads the screen from it; the console gets the slave end.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	rc, err := master.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ioErr error
	if err := rc.Control(func(fd uintptr) {
		if ioErr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ioErr == nil {
			n, ioErr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		}
	}); err != nil || ioErr != nil {
		master.Close()
		t.Fatalf("unlock the pseudo-terminal: %v %v", err, ioErr)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Fatal(err)
	}
	if rc, err = slave.SyscallConn(); err == nil {
		err = rc.Control(func(fd uintptr) {
			ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80})
		})
	}
	if err != nil || ioErr != nil {
		t.Fatalf("set the window size: %v %v", err, ioErr)
	}
	return master, slave
}

// screen is what a terminal shows, read from the master end.
type screen struct {
	buf  syncbuf.Buffer
	done chan struct{}
}

func readScreen(master *os.File) *screen {
	s := &screen{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		io.Copy(&s.buf, master) // ends with EIO when the slave is closed
	}()
	return s
}

// waitFor waits until the screen shows want after position from, and
// returns the position after it.
func (s *screen) waitFor(t *testing.T, from int, want string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := s.buf.String()
		if i := strings.Index(got[min(from, len(got)):], want); i >= 0 {
			return from + i + len(want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the screen does not show %q after position %d:\n%q", want, from, got[min(from, len(got)):])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// safeScripted is scripted for a handler called while the test reads.
type safeScripted struct {
	mu sync.Mutex
	s  scripted
}

func (h *safeScripted) Handle(ctx context.Context, r bot.Request) bot.Reply {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.s.Handle(ctx, r)
}

func (h *safeScripted) Confirm(ctx context.Context, r bot.Request, token string) bot.Reply {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.s.Confirm(ctx, r, token)
}

func (h *safeScripted) Cancel(ctx context.Context, r bot.Request, token string) bot.Reply {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.s.Cancel(ctx, r, token)
}

func (h *safeScripted) asked() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.s.asked, "|")
}

// session runs a console at a fresh pseudo-terminal until the returned
// function is called, which waits for Run's end and closes the terminal.
func session(t *testing.T, h Handler, historyFile string) (c *Console, scr *screen, master *os.File, wait func() error) {
	t.Helper()
	master, slave := openPTY(t)
	c, err := New(Config{User: alice, In: slave, Out: slave, Now: func() time.Time { return now }, HistoryFile: historyFile})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Interactive() {
		t.Fatal("a pseudo-terminal is not seen as a terminal")
	}
	scr = readScreen(master)
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background(), h) }()
	var once sync.Once
	var runErr error
	wait = func() error {
		once.Do(func() {
			select {
			case runErr = <-done:
			case <-time.After(10 * time.Second):
				runErr = errors.New("Run did not return")
			}
			slave.Close()
			<-scr.done
			master.Close()
		})
		return runErr
	}
	t.Cleanup(func() { wait() })
	return c, scr, master, wait
}

func typeKeys(t *testing.T, master *os.File, keys string) {
	t.Helper()
	if _, err := io.WriteString(master, keys); err != nil {
		t.Fatal(err)
	}
}

// TestTerminalHistoryAndEditing: at a terminal, the Up arrow recalls the
// last command (it used to run `unknown command "\x1b[A"`), Left arrow
// edits, the history survives into the next session through the history
// file, and a confirmation answer is not in it.
func TestTerminalHistoryAndEditing(t *testing.T) {
	history := filepath.Join(t.TempDir(), "console_history")
	h := &safeScripted{}
	_, scr, master, wait := session(t, h, history)
	pos := scr.waitFor(t, 0, prompt)
	typeKeys(t, master, "help\r")
	pos = scr.waitFor(t, pos, "Commands:")
	pos = scr.waitFor(t, pos, prompt)
	typeKeys(t, master, "\x1b[A\r") // Up, Enter: help again
	pos = scr.waitFor(t, pos, "Commands:")
	pos = scr.waitFor(t, pos, prompt)
	typeKeys(t, master, "sop\x1b[D\x1b[Dt\r") // Left twice: "stop"
	pos = scr.waitFor(t, pos, "[y/N] ")
	typeKeys(t, master, "n\r")
	pos = scr.waitFor(t, pos, "cancelled")
	scr.waitFor(t, pos, prompt)
	typeKeys(t, master, "quit\r")
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if got, want := h.asked(), "handle help as U0ALICE|handle help as U0ALICE|handle stop as U0ALICE|cancel t1"; got != want {
		t.Errorf("asked %q; want %q", got, want)
	}
	if got := scr.buf.String(); strings.Contains(got, "unknown command") {
		t.Errorf("the screen shows an unknown command:\n%q", got)
	}
	data, err := os.ReadFile(history)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), "help\nhelp\nstop\nquit\n"; got != want {
		t.Errorf("history file %q; want %q", got, want)
	}
	if fi, err := os.Stat(history); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("history file mode %v, %v; want 0600", fi.Mode(), err)
	}

	// The next session recalls the last command of the previous one.
	h2 := &safeScripted{}
	_, scr2, master2, wait2 := session(t, h2, history)
	pos = scr2.waitFor(t, 0, prompt)
	typeKeys(t, master2, "\x1b[A\x1b[A\r") // Up twice: stop (quit is last)
	pos = scr2.waitFor(t, pos, "[y/N] ")
	typeKeys(t, master2, "\r")
	scr2.waitFor(t, pos, "cancelled")
	typeKeys(t, master2, "\x04") // Ctrl-D leaves
	if err := wait2(); err != nil {
		t.Fatal(err)
	}
	if got, want := h2.asked(), "handle stop as U0ALICE|cancel t1"; got != want {
		t.Errorf("second session: asked %q; want %q", got, want)
	}
}

// TestTerminalAlertRedrawsThePrompt: an alert that arrives while a command
// is being typed appears on its own line, then the prompt and what was
// typed are drawn again, and the command still runs as typed.
func TestTerminalAlertRedrawsThePrompt(t *testing.T) {
	h := &safeScripted{}
	c, scr, master, wait := session(t, h, "")
	pos := scr.waitFor(t, 0, prompt)
	typeKeys(t, master, "hel")
	pos = scr.waitFor(t, pos, "hel")
	if _, err := io.WriteString(c.AlertWriter(), "🔴 whatsapp is DOWN\n"); err != nil {
		t.Fatal(err)
	}
	pos = scr.waitFor(t, pos, "🔴 whatsapp is DOWN\r\n")
	pos = scr.waitFor(t, pos, prompt+"hel")
	typeKeys(t, master, "p\r")
	scr.waitFor(t, pos, "Commands:")
	typeKeys(t, master, "\x03") // Ctrl-C on an empty line leaves
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if got, want := h.asked(), "handle help as U0ALICE"; got != want {
		t.Errorf("asked %q; want %q", got, want)
	}
}
