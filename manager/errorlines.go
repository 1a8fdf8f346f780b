package manager

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/sanasend/sanasend-bot/internal/servicefs"
)

// errorLinesScanBytes bounds how far back from the end of the log
// LastErrorLines reads: an alert shows recent errors, and its lines must
// never wait for a scan of a large log.
const errorLinesScanBytes = 1 << 20

// LastErrorLines returns the last n (1..MaxLogLines) lines of the service's
// log that mention "error" (case-insensitive, health polls excluded), oldest
// first, for an alert. Only the last MiB of the log is read. It returns
// ctx's error when ctx ends first: the read goes on in the background (it is
// bounded) and its result is dropped. A missing log gives no lines and no
// error: a service that never started has nothing to show.
func (s *Service) LastErrorLines(ctx context.Context, n int) ([]string, error) {
	lines, err := lastErrorLines(ctx, s.cfg.Dir, s.cfg.LogFile, n, errorLinesScanBytes)
	if err != nil {
		return nil, fmt.Errorf("error lines %s: %w", s.cfg.Name, err)
	}
	return lines, nil
}

// lastErrorLines is LastErrorLines on the log at path, a file of the service
// whose dir is dir, reading at most the last maxScan bytes. The log is opened
// through servicefs (beneath dir, never a FIFO) and read within
// logReadTimeout and ctx.
func lastErrorLines(ctx context.Context, dir, path string, n int, maxScan int64) ([]string, error) {
	q := LogQuery{Lines: n, Filter: "error"}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lines, err := servicefs.Read(ctx, dir, path, logReadTimeout, func(f *os.File) ([]string, error) {
		fi, err := f.Stat()
		if err != nil {
			return nil, err
		}
		res, err := tailLines(f, fi.Size(), q, tailBlockBytes, maxScan)
		if err != nil {
			return nil, fmt.Errorf("read log %s: %w", path, err)
		}
		return res.Lines, nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return lines, err
}
