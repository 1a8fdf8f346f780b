package manager

// What the bot keeps about a service in its state dir (persisted, runRecord)
// and the file it is kept in.

import (
	"fmt"
	"time"

	"github.com/sanasend/sanasend-bot/internal/statefile"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// runRecord identifies the run of a service that the bot started, so that a
// later bot process can adopt it. The start time defeats PID reuse.
type runRecord struct {
	PID     int32     `json:"pid"`
	Created time.Time `json:"created"` // the process's own start time, from the OS
	// PGID is the run's process group: npm leads it (its own session), and
	// sh and node stay in it after npm is gone. 0 in older state files.
	PGID      int32     `json:"pgid,omitempty"`
	RunID     string    `json:"run_id"`
	Marker    string    `json:"marker"`
	Dir       string    `json:"dir"`
	Argv      []string  `json:"argv"`
	StartedAt time.Time `json:"started_at"`
	StartedBy Actor     `json:"started_by"`
	// Cgroup is the cgroup the run was started into, "" when none.
	Cgroup string `json:"cgroup,omitempty"`
}

// pgid is the run's process group; in state files without one, npm's PID,
// since the bot starts npm as the leader of its own session and group.
func (r *runRecord) pgid() int32 {
	if r.PGID > 0 {
		return r.PGID
	}
	return r.PID
}

// persisted is what the bot keeps about one service in its state dir.
type persisted struct {
	Run        *runRecord    `json:"run,omitempty"`
	LastAction *ActionRecord `json:"last_action,omitempty"`
	// StoppedOnPurpose is true after a stop through the bot and false after
	// any start: a service found stopped is only an outage when this is false.
	StoppedOnPurpose bool `json:"stopped_on_purpose"`
	// AuthBefore is the auth snapshot taken right before the last start
	// through the bot, so that the sessions view survives a bot restart.
	AuthBefore *whatsapp.AuthSnapshot `json:"auth_before,omitempty"`
	// ExitedAt is when the last run was seen gone (by its watcher); it is
	// saved with the next change of the state.
	ExitedAt time.Time `json:"exited_at,omitzero"`
}

// stateFile is the service's state document in its state dir, replaced
// atomically (a crash mid-write leaves the old state, never half a file).
type stateFile struct {
	path string
	file *statefile.File
}

func newStateFile(path string) (stateFile, error) {
	f, err := statefile.New(path)
	if err != nil {
		return stateFile{}, err
	}
	return stateFile{path: path, file: f}, nil
}

func (s stateFile) load() (persisted, error) {
	var p persisted
	if _, err := s.file.Load(&p); err != nil {
		return persisted{}, fmt.Errorf("read state: %w", err)
	}
	return p, nil
}

func (s stateFile) save(p persisted) error {
	if err := s.file.Save(p); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}
