package alerts

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"sync"

	"github.com/sanasend/sanasend-bot/internal/statefile"
)

// StateStore keeps the alert state of each service (its TrackerState)
// across bot processes. The monitor loads a service's state once, in Start,
// and saves it after every input that changed it.
type StateStore interface {
	// LoadAlertState returns the saved state of service, and false when
	// there is none. An error means the saved state cannot be read.
	LoadAlertState(service string) (TrackerState, bool, error)
	// SaveAlertState replaces the saved state of service with st.
	SaveAlertState(service string, st TrackerState) error
}

// AlertStateFile is the name of the FileStateStore's file in the state dir.
const AlertStateFile = "alerts.json"

// alertStateVersion is the version of the FileStateStore's document.
const alertStateVersion = 1

// FileStateStore is a StateStore in one JSON document (AlertStateFile in
// the bot's state dir, 0600), replaced atomically on every save, so a crash
// leaves the previous state or the new one. It is safe for concurrent use.
type FileStateStore struct {
	file *statefile.File

	mu      sync.Mutex
	loaded  bool
	loadErr error // why the file could not be read, kept for every service
	doc     alertStateDoc
}

var (
	_ StateStore  = (*FileStateStore)(nil)
	_ WindowStore = (*FileStateStore)(nil)
)

// alertStateDoc is the FileStateStore's document.
type alertStateDoc struct {
	Version  int                     `json:"version"`
	Services map[string]TrackerState `json:"services"`
	// Windows are the recurring maintenance windows added by commands.
	Windows []RecurringWindow `json:"windows,omitempty"`
}

// NewFileStateStore returns the store in dir (the bot's state dir). It does
// no I/O: the file is read by the first load and written by the first save.
func NewFileStateStore(dir string) (*FileStateStore, error) {
	if dir == "" {
		return nil, errors.New("new alert state store: no state dir")
	}
	f, err := statefile.New(filepath.Join(dir, AlertStateFile))
	if err != nil {
		return nil, fmt.Errorf("new alert state store: %w", err)
	}
	return &FileStateStore{file: f}, nil
}

// Path is the store's file.
func (s *FileStateStore) Path() string { return s.file.Path() }

// LoadAlertState implements StateStore. The file is read once; when it
// cannot be read or decoded (torn, or of a newer version) every service gets
// the error, and the next save replaces the file with the states saved
// since.
func (s *FileStateStore) LoadAlertState(service string) (TrackerState, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(); err != nil {
		return TrackerState{}, false, fmt.Errorf("load alert state of %s: %w", service, err)
	}
	st, ok := s.doc.Services[service]
	return st, ok, nil
}

// SaveAlertState implements StateStore: the whole document is written.
func (s *FileStateStore) SaveAlertState(service string, st TrackerState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A save before any load must not drop the other services' state; an
	// unreadable file is replaced.
	_ = s.loadLocked()
	if s.doc.Services == nil {
		s.doc.Services = map[string]TrackerState{}
	}
	s.doc.Version = alertStateVersion
	s.doc.Services[service] = st
	if err := s.file.Save(s.doc); err != nil {
		return fmt.Errorf("save alert state of %s: %w", service, err)
	}
	return nil
}

// loadLocked reads the file the first time it is called, and returns the
// same error on every later call when it could not: the document stays
// empty.
func (s *FileStateStore) loadLocked() error {
	if s.loaded {
		return s.loadErr
	}
	s.loaded = true
	var doc alertStateDoc
	if _, err := s.file.Load(&doc); err != nil {
		s.loadErr = err
		return err
	}
	if doc.Version > alertStateVersion {
		s.loadErr = fmt.Errorf("%s: version %d is newer than %d", s.file.Path(), doc.Version, alertStateVersion)
		return s.loadErr
	}
	s.doc = doc
	return nil
}

// LoadWindows implements WindowStore: the windows in the same document as
// the alert state.
func (s *FileStateStore) LoadWindows() ([]RecurringWindow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(); err != nil {
		return nil, fmt.Errorf("load maintenance windows: %w", err)
	}
	return append([]RecurringWindow(nil), s.doc.Windows...), nil
}

// SaveWindows implements WindowStore: the whole document is written.
func (s *FileStateStore) SaveWindows(ws []RecurringWindow) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.loadLocked() // as SaveAlertState: an unreadable file is replaced
	if s.doc.Services == nil {
		s.doc.Services = map[string]TrackerState{}
	}
	s.doc.Version = alertStateVersion
	s.doc.Windows = append([]RecurringWindow(nil), ws...)
	if err := s.file.Save(s.doc); err != nil {
		return fmt.Errorf("save maintenance windows: %w", err)
	}
	return nil
}

// Snapshot returns every service's saved state and the saved windows, as
// the file holds them: none when there is no file, an error when it cannot
// be read or decoded. It is for a one-time move of the file into another
// store.
func (s *FileStateStore) Snapshot() (map[string]TrackerState, []RecurringWindow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(); err != nil {
		return nil, nil, fmt.Errorf("read alert state: %w", err)
	}
	return maps.Clone(s.doc.Services), append([]RecurringWindow(nil), s.doc.Windows...), nil
}
