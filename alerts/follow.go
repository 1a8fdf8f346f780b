package alerts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/internal/servicefs"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// FollowConfig says which log to follow after a start, from where and for how
// long.
type FollowConfig struct {
	// Path is the service log.
	Path string
	// Dir is the service's dir: the log is opened beneath it as
	// servicefs.Open does (a symlink out of it is refused). "" means that
	// Path's last component must not be a symlink. Either way only a
	// regular file is read: a FIFO at Path is refused, never opened.
	Dir string
	// Offset is the log's size when the start began
	// (manager.StartResult.LogOffset / manager.Event.LogOffset): the lines
	// before it are not this start's. It applies to the file found at Path at
	// the first poll; a file that appears later (the log was missing, or it
	// was replaced) is read from its beginning.
	Offset int64
	// Timeout is restoration_timeout: the follow never lasts longer.
	// It must be positive.
	Timeout time.Duration
	// Settle is how long to wait, once the restoration is done, for the
	// "Client <id> is ready" / "QR code generated for session <id>" lines of
	// the restored sessions. 0 means 15s; negative means do not wait. The
	// settle window always ends by Timeout.
	Settle time.Duration
	// Poll is how often the file is checked; 0 means 250ms.
	Poll time.Duration
	// Clock measures every wait; nil means the real clock.
	Clock clockwork.Clock
	// ReadTimeout bounds each poll's opens and reads, in real time (a hung
	// disk does not follow a fake clock); 0 means 5s.
	ReadTimeout time.Duration
}

// FollowResult is what the log told about one start's session restoration.
type FollowResult struct {
	// Restoration is the latest restoration block after Offset (a second
	// start within the follow replaces the first).
	Restoration whatsapp.Restoration
	// Completed is true when the restoration was Done(): the completion line,
	// the result line or a global error ("Failed to restore sessions") was
	// seen. Restored sessions may still be Pending() when Settle or Timeout
	// ran out before their "is ready"/"QR code" line.
	Completed bool
	// TimedOut is true when Timeout passed before the restoration was done:
	// Restoration is what was seen so far.
	TimedOut bool
	// Interrupted is true when the follow ended because the service
	// stopped, exited or started again before the restoration was done
	// (the monitor's summaries only): Restoration is what was seen until
	// then, and the summary's Sessions say which sessions the stop cut
	// short (whatsapp.SessionInterrupted).
	Interrupted bool
	// Rotated counts the times the path was found naming another file
	// (including a log that had gone when the follow began, with Offset > 0);
	// Truncated counts the times the file shrank below the read position or
	// was found rewritten (copytruncate), and a file smaller than Offset at the
	// first poll.
	Rotated, Truncated int
}

// Defaults and limits of FollowRestoration.
const (
	followDefaultSettle = 15 * time.Second
	followDefaultPoll   = 250 * time.Millisecond
	// followMaxLine caps one line: a longer line is fed cut to this length and
	// the rest of it is skipped (a cut JSON line is ignored by the parser).
	followMaxLine = 1 << 20
	// followChunk is the read buffer size.
	followChunk = 64 << 10
	// followMaxPoll bounds what one poll reads, so that deadlines hold even if
	// the log grows very fast; the rest is read at the next poll.
	followMaxPoll = 64 << 20
	// followTailN is how many bytes before the read position are remembered
	// to find a file that was truncated and has grown past that position again.
	followTailN = 64
	// followDefaultReadTimeout bounds one poll's I/O.
	followDefaultReadTimeout = 5 * time.Second
)

// FollowRestoration follows the service log after a start and returns the
// session restoration it logs. It polls cfg.Path every cfg.Poll, reading what
// was appended since the last poll from cfg.Offset on, and feeds each complete
// line (winston JSON or text) to a whatsapp.RestorationParser; a partial last
// line waits for its newline. It follows the log across rotation (the path
// names another file: the old file is read to its end, then the new one from
// its beginning), truncation (the file shrank below the read position, or was
// rewritten: read again from 0) and a missing file (keep polling). A line at
// the end of a file that was replaced or truncated is fed as it is.
//
// It returns when
//   - the restoration is done and every restored session is ready or waiting
//     for a QR scan: Completed;
//   - the restoration is done and Settle (bounded by Timeout) has passed:
//     Completed, with some sessions still Pending();
//   - Timeout has passed first: TimedOut, with what was seen so far;
//   - ctx is done: what was seen so far, and ctx.Err().
//
// The error is also non-nil for an invalid cfg, and on a timeout when the
// last poll failed with an I/O error other than a missing file (permission
// denied, a directory or a FIFO at Path, a symlink out of Dir, ...): the
// result is still valid then. A missing file is not an error: it gives
// TimedOut with nothing seen.
//
// Each poll runs with a deadline (ReadTimeout). A poll that does not end by
// then (a hung disk) is abandoned: FollowRestoration returns what was seen
// before it, TimedOut, and an error; the poll's goroutine closes the file
// and ends when its system call returns.
func FollowRestoration(ctx context.Context, cfg FollowConfig) (FollowResult, error) {
	f, err := newRestorationFollow(cfg)
	if err != nil {
		return FollowResult{}, err
	}
	defer f.close()
	return f.run(ctx, f.cfg.Clock.Now().Add(f.cfg.Timeout), nil)
}

// restorationFollow is FollowRestoration in steps, for the monitor: a run
// can be ended early when the service stops (stop), and a follow that timed
// out can go on with a later deadline, from where it was, for the late
// follow-up of a summary.
type restorationFollow struct {
	cfg FollowConfig
	w   *follower
	// abandoned is set when a poll was abandoned (a hung disk): the poll's
	// goroutine owns w from then on and no run may follow.
	abandoned bool
}

// newRestorationFollow validates cfg and fills in its defaults; it does no
// I/O.
func newRestorationFollow(cfg FollowConfig) (*restorationFollow, error) {
	if cfg.Path == "" {
		return nil, errors.New("follow restoration: no log path")
	}
	if cfg.Timeout <= 0 {
		return nil, fmt.Errorf("follow restoration: timeout %v: must be positive", cfg.Timeout)
	}
	if cfg.Offset < 0 {
		cfg.Offset = 0
	}
	switch {
	case cfg.Settle == 0:
		cfg.Settle = followDefaultSettle
	case cfg.Settle < 0:
		cfg.Settle = 0
	}
	if cfg.Poll <= 0 {
		cfg.Poll = followDefaultPoll
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = followDefaultReadTimeout
	}
	return &restorationFollow{cfg: cfg, w: &follower{
		dir:       cfg.Dir,
		path:      cfg.Path,
		offset:    cfg.Offset,
		useOffset: true,
		parser:    whatsapp.NewRestorationParser(),
		buf:       make([]byte, followChunk),
	}}, nil
}

// close closes the log unless an abandoned poll owns it.
func (f *restorationFollow) close() {
	if !f.abandoned {
		f.w.close()
	}
}

// isClosed reports whether ch is closed; a nil ch never is.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// run follows the log until deadline, as FollowRestoration documents. When
// stop is closed (the service stopped, exited or started again) it polls
// once more and returns what it saw: Completed when the restoration is done
// (some restored sessions may be pending), Interrupted otherwise. It must
// not be called again once f.abandoned is set.
func (f *restorationFollow) run(ctx context.Context, deadline time.Time, stop <-chan struct{}) (FollowResult, error) {
	cfg, w := f.cfg, f.w
	if err := ctx.Err(); err != nil {
		return w.result(), err
	}
	clock := cfg.Clock
	var settleEnd time.Time // zero until the restoration is done
	for {
		stopped := isClosed(stop) // this poll is the last one
		before := w.result()
		if err := w.pollWithin(ctx, cfg.ReadTimeout); err != nil {
			f.abandoned = true
			before.TimedOut = ctx.Err() == nil
			return before, fmt.Errorf("follow restoration: %w", err)
		}
		r := w.parser.Result()
		now := clock.Now()
		if stopped {
			res := w.resultOf(r)
			res.Completed, res.Interrupted = r.Done(), !r.Done()
			return res, nil
		}
		if r.Done() {
			if settleEnd.IsZero() {
				settleEnd = now.Add(cfg.Settle)
				if settleEnd.After(deadline) {
					settleEnd = deadline
				}
			}
			if len(r.Pending()) == 0 || !now.Before(settleEnd) {
				res := w.resultOf(r)
				res.Completed = true
				return res, nil
			}
		} else {
			settleEnd = time.Time{} // a new start began a new block
		}
		if !now.Before(deadline) {
			res := w.resultOf(r)
			res.TimedOut = true
			if w.err != nil {
				return res, fmt.Errorf("follow restoration: %w", w.err)
			}
			return res, nil
		}

		next := deadline
		if !settleEnd.IsZero() {
			next = settleEnd
		}
		timer := clock.NewTimer(min(cfg.Poll, next.Sub(now)))
		select {
		case <-ctx.Done():
			timer.Stop()
			return w.result(), ctx.Err()
		case <-stop:
			timer.Stop() // the next poll is the last
		case <-timer.Chan():
		}
	}
}

// pollWithin runs w.poll with a deadline. It returns nil when the poll ended;
// otherwise the poll is abandoned and owns w from then on: it closes the file
// when it ends, and w must not be touched again.
func (w *follower) pollWithin(ctx context.Context, d time.Duration) error {
	w.state.Store(pollRunning)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.poll()
		if !w.state.CompareAndSwap(pollRunning, pollEnded) {
			w.close() // abandoned: nobody else will
		}
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	var err error
	select {
	case <-done:
	case <-t.C:
		err = usererr.Wrap(fmt.Errorf("read %s: %w", w.path, context.DeadlineExceeded), usererr.Unavailable,
			"reading the log took longer than %s: the disk or its mount may hang", human.Duration(d))
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil && w.state.CompareAndSwap(pollRunning, pollAbandoned) {
		return err
	}
	<-done // the poll ended meanwhile
	return nil
}

// States of a poll, for pollWithin.
const (
	pollRunning int32 = iota
	pollEnded
	pollAbandoned
)

// follower reads one log file incrementally.
type follower struct {
	dir    string
	path   string
	state  atomic.Int32 // of the current poll
	offset int64
	// useOffset: the next open is the first one and the file was never seen
	// missing, so it is read from offset.
	useOffset bool
	// gone: the file was missing before any open while offset > 0: the file
	// that offset measured was replaced.
	gone bool

	parser *whatsapp.RestorationParser
	f      *os.File
	pos    int64  // read position in f
	tail   []byte // the last bytes before pos, as read
	line   []byte // a partial line waiting for its newline
	// discard skips bytes up to the next newline: the rest of a cut line, or
	// the end of a line that began before offset.
	discard bool
	buf     []byte

	rotated, truncated int
	err                error // I/O error of the last poll, other than a missing file
}

func (w *follower) result() FollowResult { return w.resultOf(w.parser.Result()) }

func (w *follower) resultOf(r whatsapp.Restoration) FollowResult {
	return FollowResult{Restoration: r, Rotated: w.rotated, Truncated: w.truncated}
}

func (w *follower) close() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}

// poll reads what the log gained since the last poll.
func (w *follower) poll() {
	w.err = nil
	if w.f == nil {
		if !w.open() {
			return
		}
	} else {
		fi, err := os.Stat(w.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Mid-rotation: the old file may still grow; keep reading it.
		case err != nil:
			w.err = err
		default:
			if hfi, herr := w.f.Stat(); herr == nil && !os.SameFile(fi, hfi) {
				w.read() // the old file to its end
				w.endOfFile()
				w.close()
				w.rotated++
				if !w.open() {
					return
				}
			}
		}
	}
	w.checkTruncated()
	w.read()
}

// open opens the file at path; it reports whether a file is open.
func (w *follower) open() bool {
	f, err := servicefs.Open(w.dir, w.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if w.useOffset && w.offset > 0 {
				w.gone = true
			}
			w.useOffset = false
		} else {
			w.err = err
		}
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		w.err = err
		return false
	}
	w.f, w.pos, w.tail, w.line, w.discard = f, 0, w.tail[:0], w.line[:0], false
	if w.gone {
		w.gone = false
		w.rotated++
	}
	if !w.useOffset {
		return true
	}
	w.useOffset = false
	off := w.offset
	if off > fi.Size() {
		// Truncated or replaced since the start began: all of it is new.
		w.truncated++
		return true
	}
	if off > 0 {
		// Remember the bytes before offset; if they do not end a line,
		// offset is inside a line that began before the start: skip it.
		tail := make([]byte, min(off, followTailN))
		if _, err := f.ReadAt(tail, off-int64(len(tail))); err != nil && !errors.Is(err, io.EOF) {
			w.err = err
			w.close()
			w.useOffset = true
			return false
		}
		w.tail = append(w.tail, tail...)
		w.discard = tail[len(tail)-1] != '\n'
	}
	w.pos = off
	return true
}

// checkTruncated finds that the open file shrank below the read position, or
// was truncated and has grown past it again (the bytes before the read
// position changed), and then reads it again from 0.
func (w *follower) checkTruncated() {
	fi, err := w.f.Stat()
	if err != nil {
		w.err = err
		return
	}
	size := fi.Size()
	rewritten := size < w.pos
	if !rewritten && size > w.pos && len(w.tail) > 0 {
		got := w.buf[:len(w.tail)]
		_, err := w.f.ReadAt(got, w.pos-int64(len(w.tail)))
		rewritten = err == nil && !bytes.Equal(got, w.tail)
	}
	if rewritten {
		w.endOfFile()
		w.pos, w.tail = 0, w.tail[:0]
		w.truncated++
	}
}

// read reads the open file from pos to its end (at most followMaxPoll bytes).
func (w *follower) read() {
	for total := 0; total < followMaxPoll; {
		n, err := w.f.ReadAt(w.buf, w.pos)
		if n > 0 {
			data := w.buf[:n]
			w.remember(data)
			w.consume(data)
			w.pos += int64(n)
			total += n
		}
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			w.err = err
			return
		}
	}
}

// remember keeps the last followTailN bytes read.
func (w *follower) remember(data []byte) {
	if len(data) >= followTailN {
		w.tail = append(w.tail[:0], data[len(data)-followTailN:]...)
		return
	}
	w.tail = append(w.tail, data...)
	if extra := len(w.tail) - followTailN; extra > 0 {
		copy(w.tail, w.tail[extra:])
		w.tail = w.tail[:followTailN]
	}
}

// consume splits data into lines and feeds the complete ones.
func (w *follower) consume(data []byte) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if w.discard {
			if i < 0 {
				return
			}
			w.discard = false
			data = data[i+1:]
			continue
		}
		if i < 0 {
			room := followMaxLine - len(w.line)
			if len(data) < room {
				w.line = append(w.line, data...)
				return
			}
			// Too long: feed what fits and skip the rest of the line.
			w.line = append(w.line, data[:room]...)
			w.feedLine()
			w.discard = true
			return
		}
		part := data[:i]
		if len(w.line) == 0 && len(part) <= followMaxLine {
			w.parser.Feed(string(part))
		} else {
			room := followMaxLine - len(w.line)
			w.line = append(w.line, part[:min(len(part), room)]...)
			w.feedLine()
		}
		data = data[i+1:]
	}
}

func (w *follower) feedLine() {
	w.parser.Feed(string(w.line))
	w.line = w.line[:0]
}

// endOfFile ends the current file: its partial last line will never get its
// newline, so it is fed as it is.
func (w *follower) endOfFile() {
	if len(w.line) > 0 && !w.discard {
		w.feedLine()
	}
	w.line, w.discard = w.line[:0], false
}
