// Package console is the terminal front end of the bot: the same commands,
// rules and confirmations as in Slack, typed at a prompt. Where Slack shows a
// button, the console asks [y/N]. It is how a newcomer tries the bot and how
// an engineer uses it over SSH.
package console

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/manager"
)

// Handler is what the console needs of the router.
type Handler interface {
	Handle(ctx context.Context, req bot.Request) bot.Reply
	Confirm(ctx context.Context, req bot.Request, token string) bot.Reply
	Cancel(ctx context.Context, req bot.Request, token string) bot.Reply
}

var _ Handler = (*bot.Router)(nil)

// Console reads commands from in and writes replies to out.
type Console struct {
	h      Handler
	user   manager.Actor
	in     *bufio.Scanner
	out    io.Writer
	now    func() time.Time
	prompt string
}

// New returns a console acting as user.
func New(h Handler, user manager.Actor, in io.Reader, out io.Writer, now func() time.Time) *Console {
	if now == nil {
		now = time.Now
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 4096), bot.MaxCommandLen*4)
	return &Console{h: h, user: user, in: sc, out: out, now: now, prompt: "sanasend> "}
}

// Run reads commands until quit, end of input, or ctx is cancelled. A
// command that is running when ctx is cancelled finishes first: an action
// is never abandoned half-done.
func (c *Console) Run(ctx context.Context) error {
	// The reader goroutine ends when Run does; one blocked reading a
	// terminal ends with the process.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() {
		defer close(lines)
		for c.in.Scan() {
			select {
			case lines <- c.in.Text():
			case <-ctx.Done():
				return
			}
		}
		readErr <- c.in.Err()
	}()
	fmt.Fprintf(c.out, "sanasend-bot console: you are %s. Type `help`, or `quit` to leave.\n", c.user)
	for {
		fmt.Fprint(c.out, c.prompt)
		var line string
		var ok bool
		select {
		case <-ctx.Done():
			fmt.Fprintln(c.out)
			return nil
		case line, ok = <-lines:
		}
		if !ok {
			fmt.Fprintln(c.out)
			select {
			case err := <-readErr:
				if err != nil {
					return fmt.Errorf("console: read: %w", err)
				}
			default:
			}
			return nil
		}
		text := strings.TrimSpace(line)
		switch strings.ToLower(text) {
		case "":
			continue
		case "quit", "exit", "q":
			return nil
		}
		req := c.request(text)
		reply := c.h.Handle(context.WithoutCancel(ctx), req)
		if reply.Kind == bot.KindConfirm {
			reply = c.confirm(ctx, req, reply, lines)
		}
		fmt.Fprint(c.out, Render(reply, c.now()))
	}
}

func (c *Console) request(text string) bot.Request {
	return bot.Request{User: c.user, Channel: "console", Source: "console", Text: text,
		Progress: func(step string) { fmt.Fprintf(c.out, "  … %s\n", step) }}
}

// confirm asks [y/N] for a pending action and answers with the router's
// reply to the click.
func (c *Console) confirm(ctx context.Context, req bot.Request, reply bot.Reply, lines <-chan string) bot.Reply {
	fmt.Fprintf(c.out, "%s [y/N] ", Render(reply, c.now()))
	var answer string
	select {
	case <-ctx.Done():
	case answer = <-lines:
	}
	token := reply.Confirm.Token
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return c.h.Confirm(context.WithoutCancel(ctx), req, token)
	default:
		return c.h.Cancel(context.WithoutCancel(ctx), req, token)
	}
}
