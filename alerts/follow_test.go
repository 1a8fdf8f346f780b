package alerts

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/sanasend/sanasend-bot/whatsapp"
)

// The logs under testdata/follow are copies of manager/testdata/restoration
// (complete.* gains a "Client user_9_instance_ops is ready" line so that every
// restored session ends ready or waiting for a QR scan).

var followFormats = []string{"json", "text"}

const (
	followTestPoll    = 250 * time.Millisecond
	followTestTimeout = 2 * time.Minute
	followTestSettle  = 15 * time.Second
	// followTestWait bounds every wait for the follower on the real clock.
	followTestWait = 10 * time.Second
)

// followLines returns the lines of testdata/follow/<name>.<format>.log, each
// with its "\n".
func followLines(t *testing.T, name, format string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "follow", name+"."+format+".log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// followAt returns the index of the first line from `from` on that contains sub.
func followAt(t *testing.T, lines []string, from int, sub string) int {
	t.Helper()
	for i := from; i < len(lines); i++ {
		if strings.Contains(lines[i], sub) {
			return i
		}
	}
	t.Fatalf("no line containing %q from line %d", sub, from)
	return -1
}

func followJoin(lines []string) string { return strings.Join(lines, "") }

// followAppend appends s to the log at path as the service does (O_APPEND),
// creating it if needed.
func followAppend(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func followSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// followRun is FollowRestoration running on a fake clock.
type followRun struct {
	t     *testing.T
	clock *clockwork.FakeClock
	poll  time.Duration
	done  chan struct{}
	res   FollowResult
	err   error
}

// followStart starts FollowRestoration on a fake clock and returns once its
// first poll is over.
func followStart(t *testing.T, ctx context.Context, cfg FollowConfig) *followRun {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	clock := clockwork.NewFakeClock()
	cfg.Clock = clock
	if cfg.Poll == 0 {
		cfg.Poll = followTestPoll
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = followTestTimeout
	}
	r := &followRun{t: t, clock: clock, poll: cfg.Poll, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.res, r.err = FollowRestoration(ctx, cfg)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(followTestWait):
			t.Error("FollowRestoration did not return after its context was cancelled")
		}
	})
	r.idle()
	return r
}

// idle waits until the follower waits on the clock (its poll is over) or has
// returned, and reports whether it is still running.
func (r *followRun) idle() bool {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), followTestWait)
	defer cancel()
	blocked := make(chan error, 1)
	go func() { blocked <- r.clock.BlockUntilContext(ctx, 1) }()
	select {
	case <-r.done:
		return false
	case err := <-blocked:
		if err != nil {
			r.t.Fatalf("the follower neither waits on its clock nor returns: %v", err)
		}
		return true
	}
}

// step lets one poll interval pass and waits for the poll.
func (r *followRun) step() bool {
	r.t.Helper()
	return r.advance(r.poll)
}

// advance moves the clock by d (one wake-up of the follower) and waits for the
// poll that follows.
func (r *followRun) advance(d time.Duration) bool {
	r.t.Helper()
	r.clock.Advance(d)
	return r.idle()
}

// mustRun fails the test if the follower has returned.
func (r *followRun) mustRun(what string) {
	r.t.Helper()
	select {
	case <-r.done:
		r.t.Fatalf("%s: FollowRestoration returned early: %+v, %v", what, r.res, r.err)
	default:
	}
}

// finish waits for the follower to return.
func (r *followRun) finish() (FollowResult, error) {
	r.t.Helper()
	select {
	case <-r.done:
		return r.res, r.err
	case <-time.After(followTestWait):
		r.t.Fatal("FollowRestoration did not return")
	}
	return FollowResult{}, nil
}

func followSession(t *testing.T, r whatsapp.Restoration, id string) whatsapp.SessionOutcome {
	t.Helper()
	for _, o := range r.Sessions {
		if o.ID == id {
			return o
		}
	}
	t.Fatalf("no session %s in %+v", id, r.Sessions)
	return whatsapp.SessionOutcome{}
}

func followIDs(sessions []whatsapp.SessionOutcome) []string {
	ids := []string{}
	for _, o := range sessions {
		ids = append(ids, o.ID)
	}
	return ids
}

// followCheckComplete checks the result of the block of complete.*.log.
func followCheckComplete(t *testing.T, res FollowResult, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("err = %v", err)
	}
	r := res.Restoration
	if !res.Completed || res.TimedOut {
		t.Fatalf("Completed=%v TimedOut=%v, want completed: %+v", res.Completed, res.TimedOut, r)
	}
	if !r.Complete || r.Found != 5 || r.Restored != 3 || r.Failed != 2 || r.Truncated {
		t.Errorf("restoration = %+v", r)
	}
	failed := r.FailedSessions()
	if got, want := followIDs(failed), []string{"user_31_instance_sales", "user_40_instance_support"}; !slices.Equal(got, want) {
		t.Fatalf("failed sessions = %v, want %v", got, want)
	}
	if failed[0].Result != whatsapp.SessionFailed || failed[0].Cause != "undefined" {
		t.Errorf("user_31: %+v, want failed with cause undefined", failed[0])
	}
	if want := "Protocol error (Target.setAutoAttach): Target closed."; failed[1].Result != whatsapp.SessionError || failed[1].Cause != want {
		t.Errorf("user_40: %+v, want error with cause %q", failed[1], want)
	}
	for id, want := range map[string]whatsapp.Connection{
		"user_12_instance_main": whatsapp.ConnectionReady,
		"user_7_instance_main":  whatsapp.ConnectionQR,
		"user_9_instance_ops":   whatsapp.ConnectionReady,
	} {
		if o := followSession(t, r, id); o.Result != whatsapp.SessionRestored || o.Connection != want {
			t.Errorf("%s: %+v, want restored and %q", id, o, want)
		}
	}
	if p := r.Pending(); len(p) != 0 {
		t.Errorf("pending = %v", followIDs(p))
	}
	if ready, qr := len(r.RestoredSessions())-len(r.NeedQR()), len(r.NeedQR()); r.Found != 5 || ready != 2 || qr != 1 || len(r.FailedSessions()) != 2 {
		t.Errorf("found %d, ready %d, QR %d, failed %d; want 5 found, 2 ready, 1 QR, 2 failed", r.Found, ready, qr, len(r.FailedSessions()))
	}
}

func TestFollowCompleteBlock(t *testing.T) {
	for _, format := range followFormats {
		t.Run(format, func(t *testing.T) {
			lines := followLines(t, "complete", format)
			start := followAt(t, lines, 0, "running on port")
			mid := followAt(t, lines, start, "Failed to restore session user_31")
			path := filepath.Join(t.TempDir(), "whatsapp-service.log")
			followAppend(t, path, followJoin(lines[:start]))

			r := followStart(t, t.Context(), FollowConfig{Path: path, Offset: followSize(t, path)})
			followAppend(t, path, followJoin(lines[start:mid]))
			if !r.step() {
				r.mustRun("half a block")
			}
			followAppend(t, path, followJoin(lines[mid:]))
			r.step()
			res, err := r.finish()
			followCheckComplete(t, res, err)
			if res.Rotated != 0 || res.Truncated != 0 {
				t.Errorf("Rotated=%d Truncated=%d", res.Rotated, res.Truncated)
			}
		})
	}
}

func TestFollowIgnoresLinesBeforeOffset(t *testing.T) {
	for _, format := range followFormats {
		t.Run(format, func(t *testing.T) {
			lines := followLines(t, "two_restarts", format)
			second := followAt(t, lines, followAt(t, lines, 0, "running on port")+1, "running on port")
			older := followJoin(lines[:second])

			checkSecond := func(t *testing.T, res FollowResult, err error) {
				t.Helper()
				r := res.Restoration
				if err != nil || !res.Completed || res.TimedOut {
					t.Fatalf("res = %+v, err = %v", res, err)
				}
				if r.Truncated || r.Found != 2 || r.Restored != 2 || r.Failed != 0 || len(r.FailedSessions()) != 0 {
					t.Errorf("the older block leaked in: %+v", r)
				}
				for _, id := range []string{"user_3_instance_main", "user_5_instance_shop"} {
					if o := followSession(t, r, id); o.Result != whatsapp.SessionRestored || o.Connection != whatsapp.ConnectionReady {
						t.Errorf("%s: %+v", id, o)
					}
				}
			}

			t.Run("older block, then a new one", func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "service.log")
				followAppend(t, path, older)
				r := followStart(t, t.Context(), FollowConfig{Path: path, Offset: followSize(t, path)})
				if !r.step() {
					r.mustRun("only the older block")
				}
				followAppend(t, path, followJoin(lines[second:]))
				r.step()
				res, err := r.finish()
				checkSecond(t, res, err)
			})

			t.Run("only an older block", func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "service.log")
				followAppend(t, path, older)
				r := followStart(t, t.Context(), FollowConfig{Path: path, Offset: followSize(t, path)})
				r.advance(followTestTimeout)
				res, err := r.finish()
				if err != nil || res.Completed || !res.TimedOut {
					t.Fatalf("res = %+v, err = %v, want timed out", res, err)
				}
				if r := res.Restoration; r.Done() || len(r.Sessions) != 0 || r.Found != -1 || !r.StartedAt.IsZero() {
					t.Errorf("restoration = %+v, want nothing", r)
				}
			})

			t.Run("offset inside a line", func(t *testing.T) {
				// The offset points into the older block's completion line,
				// the last line written before the start: its end must not be
				// read as a completion line.
				c := followAt(t, lines, 0, "Session restoration complete")
				cut := followJoin(lines[:c+1])
				path := filepath.Join(t.TempDir(), "service.log")
				followAppend(t, path, cut)
				off := strings.Index(cut, "Session restoration complete")
				r := followStart(t, t.Context(), FollowConfig{Path: path, Offset: int64(off)})
				if !r.step() {
					r.mustRun("the end of an older line")
				}
				followAppend(t, path, followJoin(lines[second:]))
				r.step()
				res, err := r.finish()
				checkSecond(t, res, err)
			})
		})
	}
}

func TestFollowPartialLine(t *testing.T) {
	for _, format := range followFormats {
		t.Run(format, func(t *testing.T) {
			lines := followLines(t, "complete", format)
			start := followAt(t, lines, 0, "running on port")
			f := followAt(t, lines, start, "Failed to restore session user_31")
			path := filepath.Join(t.TempDir(), "service.log")
			followAppend(t, path, followJoin(lines[:start]))
			r := followStart(t, t.Context(), FollowConfig{Path: path, Offset: followSize(t, path)})

			// The failure line arrives in two halves, cut inside the session
			// ID: read as a line, the first half would fail "user_31_ins".
			cut := strings.Index(lines[f], "user_31_ins") + len("user_31_ins")
			followAppend(t, path, followJoin(lines[start:f])+lines[f][:cut])
			if !r.step() {
				r.mustRun("first half")
			}
			followAppend(t, path, lines[f][cut:])
			if !r.step() {
				r.mustRun("second half")
			}
			followAppend(t, path, followJoin(lines[f+1:]))
			r.step()
			res, err := r.finish()
			followCheckComplete(t, res, err)
		})
	}
}

func TestFollowRotation(t *testing.T) {
	for _, format := range followFormats {
		t.Run(format, func(t *testing.T) {
			lines := followLines(t, "complete", format)
			start := followAt(t, lines, 0, "running on port")
			f := followAt(t, lines, start, "Failed to restore session user_31")

			for _, missing := range []bool{false, true} {
				name := "renamed and recreated"
				if missing {
					name = "missing for a while"
				}
				t.Run(name, func(t *testing.T) {
					path := filepath.Join(t.TempDir(), "service.log")
					followAppend(t, path, followJoin(lines[:start]))
					r := followStart(t, t.Context(), FollowConfig{Path: path, Offset: followSize(t, path)})
					followAppend(t, path, followJoin(lines[start:f]))
					if !r.step() {
						r.mustRun("before rotation")
					}
					// Rotate; the service still writes one line to the old
					// file (it has it open) before it moves to the new one.
					if err := os.Rename(path, path+".1"); err != nil {
						t.Fatal(err)
					}
					followAppend(t, path+".1", lines[f])
					if missing && !r.step() {
						r.mustRun("file missing")
					}
					followAppend(t, path, followJoin(lines[f+1:]))
					r.step()
					res, err := r.finish()
					followCheckComplete(t, res, err)
					if res.Rotated != 1 || res.Truncated != 0 {
						t.Errorf("Rotated=%d Truncated=%d, want 1, 0", res.Rotated, res.Truncated)
					}
				})
			}
		})
	}
}

func TestFollowTruncation(t *testing.T) {
	for _, format := range followFormats {
		t.Run(format, func(t *testing.T) {
			lines := followLines(t, "complete", format)
			start := followAt(t, lines, 0, "running on port")
			f := followAt(t, lines, start, "Failed to restore session user_31")
			health := lines[followAt(t, lines, 0, "GET /health")]

			for _, regrown := range []bool{false, true} {
				name := "shrunk"
				if regrown {
					name = "regrown past the read offset"
				}
				t.Run(name, func(t *testing.T) {
					path := filepath.Join(t.TempDir(), "service.log")
					followAppend(t, path, strings.Repeat(health, 100)+followJoin(lines[:start]))
					r := followStart(t, t.Context(), FollowConfig{Path: path, Offset: followSize(t, path)})
					followAppend(t, path, followJoin(lines[start:f]))
					if !r.step() {
						r.mustRun("before truncation")
					}
					readTo := followSize(t, path)

					// copytruncate: copy, then truncate in place; the service
					// goes on appending to the same file.
					data, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path+".1", data, 0o644); err != nil {
						t.Fatal(err)
					}
					if err := os.Truncate(path, 0); err != nil {
						t.Fatal(err)
					}
					rest := followJoin(lines[f:])
					if regrown {
						rest = strings.Repeat(health, 200) + rest
					}
					followAppend(t, path, rest)
					if size := followSize(t, path); regrown != (size > readTo) {
						t.Fatalf("size after truncation %d, read offset %d: the case is not tested", size, readTo)
					}
					r.step()
					res, err := r.finish()
					followCheckComplete(t, res, err)
					if res.Truncated != 1 || res.Rotated != 0 {
						t.Errorf("Truncated=%d Rotated=%d, want 1, 0", res.Truncated, res.Rotated)
					}
				})
			}
		})
	}
}

func TestFollowTimeout(t *testing.T) {
	for _, format := range followFormats {
		t.Run(format, func(t *testing.T) {
			lines := followLines(t, "complete", format)
			start := followAt(t, lines, 0, "running on port")
			end := followAt(t, lines, start, "Restoring session: user_7_instance_main") + 1
			path := filepath.Join(t.TempDir(), "service.log")
			followAppend(t, path, followJoin(lines[:start]))
			r := followStart(t, t.Context(), FollowConfig{Path: path, Offset: followSize(t, path)})
			followAppend(t, path, followJoin(lines[start:end]))
			if !r.step() {
				r.mustRun("block in progress")
			}
			if !r.advance(followTestTimeout - time.Second) {
				r.mustRun("before the timeout")
			}
			r.advance(time.Second)
			res, err := r.finish()
			if err != nil || !res.TimedOut || res.Completed {
				t.Fatalf("res = %+v, err = %v, want timed out", res, err)
			}
			rs := res.Restoration
			if rs.Done() || rs.Found != 5 || rs.Restored != 1 || rs.Failed != 2 {
				t.Errorf("restoration = %+v", rs)
			}
			if got := followIDs(rs.InProgress()); !slices.Equal(got, []string{"user_7_instance_main"}) {
				t.Errorf("in progress = %v", got)
			}
			if got := followIDs(rs.FailedSessions()); !slices.Equal(got, []string{"user_31_instance_sales", "user_40_instance_support"}) {
				t.Errorf("failed = %v", got)
			}
			if o := followSession(t, rs, "user_12_instance_main"); o.Connection != whatsapp.ConnectionReady {
				t.Errorf("user_12: %+v", o)
			}
			// One session is being restored, one not begun (not in the log yet).
			if rs.Found != 5 || len(rs.RestoredSessions()) != 1 || len(rs.FailedSessions()) != 2 || len(rs.InProgress()) != 1 || len(rs.Sessions) != 4 || rs.Done() {
				t.Errorf("found %d, restored %d, failed %d, in progress %d, seen %d, done %v; want 5, 1, 2, 1, 4, not done",
					rs.Found, len(rs.RestoredSessions()), len(rs.FailedSessions()), len(rs.InProgress()), len(rs.Sessions), rs.Done())
			}
		})
	}
}

func TestFollowDjangoUnreachable(t *testing.T) {
	for _, format := range followFormats {
		t.Run(format, func(t *testing.T) {
			lines := followLines(t, "django_down", format)
			start := followAt(t, lines, 0, "running on port")
			path := filepath.Join(t.TempDir(), "service.log")
			followAppend(t, path, followJoin(lines[:start]))
			r := followStart(t, t.Context(), FollowConfig{Path: path, Offset: followSize(t, path)})
			followAppend(t, path, followJoin(lines[start:]))
			r.step()
			res, err := r.finish()
			if err != nil || !res.Completed || res.TimedOut {
				t.Fatalf("res = %+v, err = %v, want completed", res, err)
			}
			rs := res.Restoration
			if !rs.Done() || !strings.Contains(rs.Error, "ECONNREFUSED 127.0.0.1:8000") || len(rs.Sessions) != 0 {
				t.Errorf("restoration = %+v", rs)
			}
			if rs.Error == "" || !rs.Done() {
				t.Errorf("restoration = %+v, want a failed restoration (Error set)", rs)
			}
		})
	}
}

func TestFollowSettle(t *testing.T) {
	for _, format := range followFormats {
		t.Run(format, func(t *testing.T) {
			lines := followLines(t, "complete", format)
			start := followAt(t, lines, 0, "running on port")
			result := followAt(t, lines, start, "Session restoration result")

			setup := func(t *testing.T, cfg FollowConfig) (*followRun, string) {
				path := filepath.Join(t.TempDir(), "service.log")
				followAppend(t, path, followJoin(lines[:start]))
				cfg.Path, cfg.Offset = path, followSize(t, path)
				return followStart(t, t.Context(), cfg), path
			}

			t.Run("follow-ups within settle", func(t *testing.T) {
				r, path := setup(t, FollowConfig{Settle: followTestSettle})
				followAppend(t, path, followJoin(lines[start:result+1]))
				for range 8 { // 2 s: completion seen, user_7 and user_9 pending
					if !r.step() {
						r.mustRun("settling")
					}
				}
				followAppend(t, path, followJoin(lines[result+1:]))
				r.step()
				res, err := r.finish()
				followCheckComplete(t, res, err)
			})

			t.Run("settle passes", func(t *testing.T) {
				r, path := setup(t, FollowConfig{Settle: followTestSettle})
				followAppend(t, path, followJoin(lines[start:result+1]))
				if !r.step() { // completion seen here
					r.mustRun("completion")
				}
				if !r.advance(followTestSettle - time.Second) {
					r.mustRun("before settle")
				}
				r.advance(time.Second)
				res, err := r.finish()
				if err != nil || !res.Completed || res.TimedOut {
					t.Fatalf("res = %+v, err = %v, want completed", res, err)
				}
				rs := res.Restoration
				if got := followIDs(rs.Pending()); !slices.Equal(got, []string{"user_7_instance_main", "user_9_instance_ops"}) {
					t.Errorf("pending = %v", got)
				}
				if rs.Found != 5 || len(rs.RestoredSessions()) != 3 || len(rs.Pending()) != 2 || len(rs.FailedSessions()) != 2 {
					t.Errorf("found %d, restored %d, pending %d, failed %d; want 5, 3 (2 pending), 2",
						rs.Found, len(rs.RestoredSessions()), len(rs.Pending()), len(rs.FailedSessions()))
				}
			})

			t.Run("settle ends by the timeout", func(t *testing.T) {
				r, path := setup(t, FollowConfig{Settle: followTestSettle, Timeout: 30 * time.Second})
				if !r.advance(20 * time.Second) {
					r.mustRun("no block yet")
				}
				followAppend(t, path, followJoin(lines[start:result+1]))
				if !r.step() { // completion seen at 20.25 s: settle would end at 35.25 s
					r.mustRun("completion")
				}
				if !r.advance(9 * time.Second) {
					r.mustRun("before the timeout")
				}
				r.advance(time.Second) // 30.25 s
				res, err := r.finish()
				if err != nil || !res.Completed || res.TimedOut {
					t.Fatalf("res = %+v, err = %v, want completed", res, err)
				}
				if got := len(res.Restoration.Pending()); got != 2 {
					t.Errorf("pending = %d, want 2", got)
				}
			})

			t.Run("a second start while settling", func(t *testing.T) {
				two := followLines(t, "two_restarts", format)
				first := followAt(t, two, 0, "Session restoration result")
				path := filepath.Join(t.TempDir(), "service.log")
				r := followStart(t, t.Context(), FollowConfig{Path: path, Settle: followTestSettle})
				followAppend(t, path, followJoin(two[:first+1]))
				if !r.step() { // done, user_3 pending
					r.mustRun("first block")
				}
				followAppend(t, path, followJoin(two[first+1:]))
				r.step()
				res, err := r.finish()
				if err != nil || !res.Completed {
					t.Fatalf("res = %+v, err = %v", res, err)
				}
				if rs := res.Restoration; rs.Restored != 2 || rs.Failed != 0 || len(rs.Pending()) != 0 {
					t.Errorf("restoration = %+v, want the second block", rs)
				}
			})
		})
	}
}

func TestFollowMissingFile(t *testing.T) {
	for _, format := range followFormats {
		t.Run(format, func(t *testing.T) {
			lines := followLines(t, "complete", format)
			start := followAt(t, lines, 0, "running on port")
			f := followAt(t, lines, start, "Failed to restore session user_31")

			t.Run("created later", func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "logs", "service.log")
				r := followStart(t, t.Context(), FollowConfig{Path: path})
				for range 3 {
					if !r.step() {
						r.mustRun("no file")
					}
				}
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				followAppend(t, path, followJoin(lines))
				r.step()
				res, err := r.finish()
				followCheckComplete(t, res, err)
				if res.Rotated != 0 || res.Truncated != 0 {
					t.Errorf("Rotated=%d Truncated=%d", res.Rotated, res.Truncated)
				}
			})

			t.Run("replaced before the first poll", func(t *testing.T) {
				// The file the offset measured is gone: the new one is read
				// from its beginning, not from the offset.
				path := filepath.Join(t.TempDir(), "service.log")
				off := int64(len(followJoin(lines[start:f])))
				r := followStart(t, t.Context(), FollowConfig{Path: path, Offset: off})
				if !r.step() {
					r.mustRun("no file")
				}
				followAppend(t, path, followJoin(lines[start:]))
				r.step()
				res, err := r.finish()
				followCheckComplete(t, res, err)
				if res.Rotated != 1 {
					t.Errorf("Rotated=%d, want 1", res.Rotated)
				}
			})
		})
	}
}

func TestFollowLongLines(t *testing.T) {
	t.Run("text completion line cut", func(t *testing.T) {
		lines := followLines(t, "complete", "text")
		start := followAt(t, lines, 0, "running on port")
		c := followAt(t, lines, start, "Session restoration complete")
		// Without the result line, only the (cut) completion line completes
		// the block; the lines after it must be read as usual.
		long := strings.TrimSuffix(lines[c], "\n") + " " + strings.Repeat("x", 2*followMaxLine+123) + "\n"
		block := followJoin(lines[start:c]) + long + followJoin(lines[c+2:])
		path := filepath.Join(t.TempDir(), "service.log")
		r := followStart(t, t.Context(), FollowConfig{Path: path})
		followAppend(t, path, block)
		r.step()
		res, err := r.finish()
		followCheckComplete(t, res, err)
	})

	t.Run("json error line with a huge stack", func(t *testing.T) {
		lines := followLines(t, "complete", "json")
		start := followAt(t, lines, 0, "running on port")
		e := followAt(t, lines, start, "Error restoring session user_40")
		long := `{"level":"error","message":"✗ Error restoring session user_40_instance_support: boom","service":"whatsapp-service","stack":"Error: boom` +
			strings.Repeat(`\n    at x (/srv/x.js:1:1)`, followMaxLine/20) + `","timestamp":"2026-11-28 14:10:35"}` + "\n"
		if len(long) <= followMaxLine {
			t.Fatal("the line is not long enough")
		}
		block := followJoin(lines[start:e]) + long + followJoin(lines[e+1:])
		path := filepath.Join(t.TempDir(), "service.log")
		r := followStart(t, t.Context(), FollowConfig{Path: path})
		followAppend(t, path, block)
		r.step()
		res, err := r.finish()
		if err != nil || !res.Completed {
			t.Fatalf("res = %+v, err = %v", res, err)
		}
		rs := res.Restoration
		// The cut JSON line is ignored: user_40 has no outcome; the rest of
		// the block is intact.
		if o := followSession(t, rs, "user_40_instance_support"); o.Result != whatsapp.SessionRestoring {
			t.Errorf("user_40: %+v, want no outcome (the cut line is ignored)", o)
		}
		if rs.Restored != 3 || rs.Failed != 2 || len(rs.Pending()) != 0 {
			t.Errorf("restoration = %+v", rs)
		}
	})
}

func TestFollowContextCancelled(t *testing.T) {
	lines := followLines(t, "complete", "text")
	start := followAt(t, lines, 0, "running on port")
	f := followAt(t, lines, start, "Failed to restore session user_31")
	path := filepath.Join(t.TempDir(), "service.log")
	ctx, cancel := context.WithCancel(t.Context())
	r := followStart(t, ctx, FollowConfig{Path: path})
	followAppend(t, path, followJoin(lines[start:f]))
	if !r.step() {
		r.mustRun("half a block")
	}
	cancel()
	res, err := r.finish()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if res.Completed || res.TimedOut || res.Restoration.Restored != 1 {
		t.Errorf("res = %+v, want what was seen so far", res)
	}
}

func TestFollowErrors(t *testing.T) {
	if _, err := FollowRestoration(t.Context(), FollowConfig{Timeout: time.Second}); err == nil {
		t.Error("no error without a path")
	}
	if _, err := FollowRestoration(t.Context(), FollowConfig{Path: "x.log"}); err == nil {
		t.Error("no error without a timeout")
	}

	// A directory at the path: polled until the timeout, then reported.
	r := followStart(t, t.Context(), FollowConfig{Path: t.TempDir()})
	r.advance(followTestTimeout)
	res, err := r.finish()
	if err == nil || !res.TimedOut {
		t.Errorf("res = %+v, err = %v, want timed out with an error", res, err)
	}
}

// TestFollowRealClock runs with the default (real) clock and a short poll.
func TestFollowRealClock(t *testing.T) {
	lines := followLines(t, "complete", "json")
	path := filepath.Join(t.TempDir(), "service.log")
	type outcome struct {
		res FollowResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := FollowRestoration(t.Context(), FollowConfig{Path: path, Timeout: followTestWait, Poll: 5 * time.Millisecond})
		done <- outcome{res, err}
	}()
	followAppend(t, path, followJoin(lines[:len(lines)/2]))
	followAppend(t, path, followJoin(lines[len(lines)/2:]))
	select {
	case o := <-done:
		followCheckComplete(t, o.res, o.err)
	case <-time.After(2 * followTestWait):
		t.Fatal("FollowRestoration did not return")
	}
}
