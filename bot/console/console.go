// Package console is the terminal front end of the bot: the same commands,
// rules and confirmations as in Slack, typed at a prompt. Where Slack shows a
// button, the console asks [y/N]. It is how a newcomer tries the bot and how
// an engineer uses it over SSH.
//
// At a terminal the prompt has line editing and history (Up and Down,
// Ctrl-R), through github.com/chzyer/readline, and a line written through
// AlertWriter appears above the prompt, which is drawn again below it with
// what was typed so far. Input that is not a terminal (a pipe, a test) is
// read line by line, with the same prompts.
package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chzyer/readline"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/internal/statefile"
	"github.com/sanasend/sanasend-bot/manager"
)

// Handler is what the console needs of the router.
type Handler interface {
	Handle(ctx context.Context, req bot.Request) bot.Reply
	Confirm(ctx context.Context, req bot.Request, token string) bot.Reply
	Cancel(ctx context.Context, req bot.Request, token string) bot.Reply
}

var _ Handler = (*bot.Router)(nil)

// Config is what a console needs.
type Config struct {
	User manager.Actor // who types: the actor of every request
	In   io.Reader     // the keyboard: a terminal (*os.File) or any reader
	Out  io.Writer     // the screen
	// Now is the clock for the times in replies; nil means time.Now.
	Now func() time.Time
	// HistoryFile keeps the commands typed at a terminal from one session
	// to the next; "" keeps them for this session only. Input that is not
	// a terminal is never written to it.
	HistoryFile string
	// ChartDir is where `uptime` writes its PNG chart (created 0700 when
	// needed); the reply names the file. "" writes no chart.
	ChartDir string
}

// Console reads commands from a keyboard and writes replies to a screen.
type Console struct {
	user        manager.Actor
	in          io.Reader
	now         func() time.Time
	historyFile string
	chartDir    string
	// inFd and outFd are the terminal's descriptors; -1 when In or Out is
	// not a terminal, and then the console reads line by line.
	inFd, outFd int

	// out serialises writes: replies, alerts and the line editor's
	// echo all reach the same screen.
	out lockedWriter

	mu sync.Mutex
	rl *readline.Instance // set while Run reads commands
}

const prompt = "sanasend> "

// New returns a console for cfg. It does no I/O.
func New(cfg Config) (*Console, error) {
	switch {
	case cfg.User.ID == "":
		return nil, errors.New("console: no user")
	case cfg.In == nil || cfg.Out == nil:
		return nil, errors.New("console: no input or output")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Console{user: cfg.User, in: cfg.In, now: cfg.Now, historyFile: cfg.HistoryFile, chartDir: cfg.ChartDir,
		inFd: -1, outFd: -1, out: lockedWriter{w: cfg.Out}}
	if in, ok := terminalFd(cfg.In); ok {
		if out, ok := terminalFd(cfg.Out); ok {
			c.inFd, c.outFd = in, out
		}
	}
	return c, nil
}

// Interactive reports whether the console edits lines at a terminal, as
// opposed to reading lines from a pipe.
func (c *Console) Interactive() bool { return c.inFd >= 0 }

// terminalFd returns the descriptor of f if it is a terminal. It reads the
// descriptor without os.File.Fd, which would make reads block the thread.
func terminalFd(f any) (int, bool) {
	sc, ok := f.(syscall.Conn)
	if !ok {
		return -1, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, false
	}
	fd := -1
	if err := rc.Control(func(p uintptr) { fd = int(p) }); err != nil || fd < 0 {
		return -1, false
	}
	return fd, readline.IsTerminal(fd)
}

// AlertWriter is the writer for output that does not answer a command,
// such as the monitor's alerts: write whole lines to it. At a terminal,
// while a command is being typed, the lines appear above the prompt, which
// is drawn again below them with what was typed so far. It may be used
// before, during and after Run, from any goroutine.
func (c *Console) AlertWriter() io.Writer { return alertWriter{c} }

type alertWriter struct{ c *Console }

func (w alertWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	rl := w.c.rl
	w.c.mu.Unlock()
	if rl == nil {
		return w.c.out.Write(p)
	}
	return rl.Stdout().Write(p)
}

// Run reads commands for h until quit, end of input, Ctrl-D, Ctrl-C on an
// empty line, or ctx is cancelled. A command that is running when ctx is
// cancelled finishes first: an action is never abandoned half-done.
func (c *Console) Run(ctx context.Context, h Handler) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	e, err := c.open()
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.rl = e.rl
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.rl = nil
		c.mu.Unlock()
		e.close()
	}()
	// Cancelling ctx ends a read in progress: the line editor sees the end
	// of input. A goroutine blocked reading a terminal ends with the
	// process.
	stopped := make(chan struct{})
	defer func() { cancel(); <-stopped }()
	go func() {
		defer close(stopped)
		<-ctx.Done()
		e.stdin.Close()
	}()

	fmt.Fprintf(&c.out, "sanasend-bot console: you are %s. Type `help`, or `quit` to leave.\n", c.user)
	for {
		line, err := c.readLine(ctx, e, prompt)
		switch {
		case ctx.Err() != nil:
			fmt.Fprintln(&c.out)
			return nil
		case errors.Is(err, readline.ErrInterrupt):
			if line != "" {
				continue // Ctrl-C drops what was typed
			}
			return nil
		case errors.Is(err, io.EOF):
			fmt.Fprintln(&c.out)
			return nil
		case err != nil:
			return fmt.Errorf("console: read: %w", err)
		}
		text := strings.TrimSpace(line)
		if text == "" {
			continue
		}
		e.remember(text)
		switch strings.ToLower(text) {
		case "quit", "exit", "q":
			return nil
		}
		req := c.request(text)
		reply := h.Handle(context.WithoutCancel(ctx), req)
		if reply.Kind == bot.KindConfirm {
			reply = c.confirm(ctx, h, e, req, reply)
		}
		fmt.Fprint(&c.out, c.render(reply))
	}
}

// render writes the reply's chart, if any, to the chart dir, and renders
// the reply naming the file.
func (c *Console) render(reply bot.Reply) string {
	now := c.now()
	path, err := WriteChart(c.chartDir, reply, now)
	return RenderWithChart(reply, now, ChartFile{Path: path, Err: err})
}

// readLine reads one line after p. Away from a terminal the line editor
// draws nothing, so the prompt is written here. After the end of input it
// returns io.EOF without reading: the line editor has stopped.
func (c *Console) readLine(ctx context.Context, e *editor, p string) (string, error) {
	switch {
	case e.ended:
		return "", io.EOF
	case ctx.Err() != nil:
		return "", ctx.Err()
	}
	e.rl.SetPrompt(p)
	if !c.Interactive() {
		fmt.Fprint(&c.out, p)
	}
	line, err := e.rl.Readline()
	if err != nil && !errors.Is(err, readline.ErrInterrupt) {
		e.ended = true
	}
	return line, err
}

func (c *Console) request(text string) bot.Request {
	return bot.Request{User: c.user, Channel: "console", Source: "console", Text: text,
		Progress: func(step string) { fmt.Fprintf(&c.out, "  … %s\n", step) }}
}

// confirm asks [y/N] for a pending action and answers with the router's
// reply to the click. The answer does not go into the history.
func (c *Console) confirm(ctx context.Context, h Handler, e *editor, req bot.Request, reply bot.Reply) bot.Reply {
	question := strings.TrimRight(Render(reply, c.now()), "\n")
	// The line editor draws one line of prompt: earlier lines of the
	// question are written first.
	if i := strings.LastIndexByte(question, '\n'); i >= 0 {
		fmt.Fprintln(&c.out, question[:i])
		question = question[i+1:]
	}
	answer, err := c.readLine(ctx, e, question+" [y/N] ")
	if err != nil || ctx.Err() != nil {
		answer = ""
		if !errors.Is(err, readline.ErrInterrupt) {
			fmt.Fprintln(&c.out)
		}
	}
	token := reply.Confirm.Token
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return h.Confirm(context.WithoutCancel(ctx), req, token)
	default:
		return h.Cancel(context.WithoutCancel(ctx), req, token)
	}
}

// editor is the line editor of one Run.
type editor struct {
	rl    *readline.Instance
	stdin *readline.CancelableStdin
	winch chan struct{} // closed to stop following the terminal's width
	ended bool          // the input ended: the editor reads no more
	// history is the history file, open for appending; nil without one.
	history *os.File
	done    sync.WaitGroup
}

// open starts the line editor on c's input, with the history of earlier
// sessions at a terminal.
func (c *Console) open() (*editor, error) {
	e := &editor{stdin: readline.NewCancelableStdin(c.in), winch: make(chan struct{})}
	cfg := &readline.Config{
		Prompt:                 prompt,
		Stdin:                  e.stdin,
		Stdout:                 &c.out,
		Stderr:                 &c.out,
		HistoryLimit:           historyKeep,
		DisableAutoSaveHistory: true, // Run saves commands, not answers
		FuncIsTerminal:         c.Interactive,
		FuncMakeRaw:            func() error { return nil },
		FuncExitRaw:            func() error { return nil },
		FuncGetWidth:           func() int { return 80 },
		FuncOnWidthChanged:     func(func()) {},
		// Ctrl-Z would stop the parent process too (readline signals
		// it), such as make in `make demo`.
		FuncFilterInputRune: func(r rune) (rune, bool) { return r, r != readline.CharCtrlZ },
	}
	if c.Interactive() {
		raw := &rawMode{fd: c.inFd}
		cfg.FuncMakeRaw, cfg.FuncExitRaw = raw.enter, raw.exit
		cfg.FuncGetWidth = func() int {
			w, _, err := readline.GetSize(c.outFd)
			if err != nil || w <= 0 {
				return 80
			}
			return w
		}
		cfg.FuncOnWidthChanged = e.followWidth
	}
	rl, err := readline.NewEx(cfg)
	if err != nil {
		e.stdin.Close()
		close(e.winch)
		return nil, fmt.Errorf("console: line editor: %w", err)
	}
	e.rl = rl
	if c.Interactive() && c.historyFile != "" {
		if err := e.loadHistory(c.historyFile); err != nil {
			fmt.Fprintf(&c.out, "console: the history of earlier sessions is not kept: %v\n", err)
		}
	}
	return e, nil
}

// historyKeep is how many commands the history keeps.
const historyKeep = 500

// loadHistory puts the commands of earlier sessions in the history and opens
// the file for this session's. The file is rewritten, readable by its owner
// only, when it grew to twice historyKeep.
func (e *editor) loadHistory(path string) error {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read history: %w", err)
	}
	var lines []string
	for l := range strings.Lines(string(data)) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > 2*historyKeep {
		lines = lines[len(lines)-historyKeep:]
		if err := statefile.WriteAtomic(path, []byte(strings.Join(lines, "\n")+"\n")); err != nil {
			return fmt.Errorf("shorten history: %w", err)
		}
	}
	for _, l := range lines[max(0, len(lines)-historyKeep):] {
		_ = e.rl.SaveHistory(l) // no error without readline's history file
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("open history: %w", err)
	}
	e.history = f
	return nil
}

// remember adds a command to the history, and to the history file if any.
func (e *editor) remember(line string) {
	_ = e.rl.SaveHistory(line) // no error without readline's history file
	if e.history != nil {
		if _, err := io.WriteString(e.history, line+"\n"); err != nil {
			e.history.Close()
			e.history = nil
		}
	}
}

// followWidth calls changed when the terminal is resized, until close.
func (e *editor) followWidth(changed func()) {
	ch := make(chan os.Signal, 1)
	if !notifyResize(ch) {
		return // no resize signal on this platform: the width is read per line
	}
	e.done.Add(1)
	go func() {
		defer e.done.Done()
		defer signal.Stop(ch)
		for {
			select {
			case <-ch:
				changed()
			case <-e.winch:
				return
			}
		}
	}()
}

// close stops the line editor's goroutines and restores the terminal.
// Readline's Instance.Close is not used: it can leave its line loop
// blocked forever on a full channel. Closing the terminal ends its reader,
// then the line loop sees the end of input, reports it (to nobody, on a
// channel with room) and ends.
func (e *editor) close() {
	e.stdin.Close()
	e.rl.Terminal.Close()
	close(e.winch)
	e.done.Wait()
	if e.history != nil {
		e.history.Close()
	}
}

// rawMode puts a terminal in raw mode while a line is edited.
type rawMode struct {
	fd    int
	mu    sync.Mutex
	state *readline.State
}

func (r *rawMode) enter() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := readline.MakeRaw(r.fd)
	if err != nil {
		return fmt.Errorf("raw mode: %w", err)
	}
	if r.state == nil {
		r.state = s
	}
	return nil
}

func (r *rawMode) exit() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == nil {
		return nil
	}
	s := r.state
	r.state = nil
	return readline.Restore(r.fd, s)
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
