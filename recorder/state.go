package recorder

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/history"
)

// The durable state of the monitor and of the confirmation store, kept in
// the history database (history's state table) as JSON documents:
//
//	kind "alert":  an alerts.TrackerState, by service name
//	kind "window": an alerts.RecurringWindow added by a command, by its ID
//	kind "token":  a confirmation token's record (bot), by the token's hash
//
// The values are encoded here; history stores bytes. Reads happen once, at
// start; every change goes to history's writer, which never blocks.
const (
	kindAlert  = "alert"
	kindWindow = "window"
	kindToken  = "token"
)

// StateStore is where AlertState and Tokens keep their documents;
// *history.Store implements it. Put, Delete and Replace must not block.
type StateStore interface {
	LoadState(ctx context.Context, kind string) (map[string][]byte, error)
	PutState(kind, key string, value []byte)
	DeleteState(kind, key string)
	ReplaceState(kind string, values map[string][]byte)
}

var _ StateStore = (*history.Store)(nil)

// AlertState is the monitor's alert state (alerts.StateStore) and its added
// maintenance windows (alerts.WindowStore) in a StateStore. It holds what
// it loaded and saved in memory: loads never read the store again, and a
// save hands the change to the store's writer without waiting for it, so
// it never fails. It is safe for concurrent use.
type AlertState struct {
	store StateStore
	log   zerolog.Logger

	mu      sync.Mutex
	states  map[string]alerts.TrackerState
	bad     map[string]error // services whose saved state cannot be decoded
	windows []alerts.RecurringWindow
}

var (
	_ alerts.StateStore  = (*AlertState)(nil)
	_ alerts.WindowStore = (*AlertState)(nil)
)

// OpenAlertState reads the alert state and the windows saved in store. A
// document that cannot be decoded is logged: its service starts with fresh
// alert state (LoadAlertState says why), a window is left out. It returns
// an error when the store cannot be read.
func OpenAlertState(ctx context.Context, store StateStore, log zerolog.Logger) (*AlertState, error) {
	if store == nil {
		return nil, errors.New("open alert state: no store")
	}
	rawStates, err := store.LoadState(ctx, kindAlert)
	if err != nil {
		return nil, fmt.Errorf("open alert state: %w", err)
	}
	rawWindows, err := store.LoadState(ctx, kindWindow)
	if err != nil {
		return nil, fmt.Errorf("open alert state: %w", err)
	}
	a := &AlertState{store: store, log: log, states: make(map[string]alerts.TrackerState), bad: make(map[string]error)}
	for service, data := range rawStates {
		var st alerts.TrackerState
		if err := json.Unmarshal(data, &st); err != nil {
			a.bad[service] = fmt.Errorf("decode the saved alert state: %w", err)
			continue
		}
		a.states[service] = st
	}
	for id, data := range rawWindows {
		var w alerts.RecurringWindow
		if err := json.Unmarshal(data, &w); err != nil {
			log.Error().Err(err).Str("window", id).Msg("saved maintenance window unreadable: left out")
			continue
		}
		w.ID = id
		a.windows = append(a.windows, w)
	}
	sortWindows(a.windows)
	return a, nil
}

// sortWindows orders windows by ID, numerically ("2" before "10").
func sortWindows(ws []alerts.RecurringWindow) {
	slices.SortFunc(ws, func(x, y alerts.RecurringWindow) int {
		nx, ex := strconv.Atoi(x.ID)
		ny, ey := strconv.Atoi(y.ID)
		if ex == nil && ey == nil {
			return cmp.Compare(nx, ny)
		}
		return cmp.Compare(x.ID, y.ID)
	})
}

// LoadAlertState implements alerts.StateStore.
func (a *AlertState) LoadAlertState(service string) (alerts.TrackerState, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.bad[service]; err != nil {
		return alerts.TrackerState{}, false, fmt.Errorf("load alert state of %s: %w", service, err)
	}
	st, ok := a.states[service]
	return st, ok, nil
}

// SaveAlertState implements alerts.StateStore: the state goes to the
// store's writer, in a transaction of its own or with the changes pending
// beside it; a later save of the service replaces it if it is not written
// yet.
func (a *AlertState) SaveAlertState(service string, st alerts.TrackerState) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("save alert state of %s: %w", service, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.states[service] = st
	delete(a.bad, service)
	a.store.PutState(kindAlert, service, data)
	return nil
}

// LoadWindows implements alerts.WindowStore: the windows saved, by ID.
func (a *AlertState) LoadWindows() ([]alerts.RecurringWindow, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.windows), nil
}

// SaveWindows implements alerts.WindowStore: ws replace the windows saved,
// all in one transaction.
func (a *AlertState) SaveWindows(ws []alerts.RecurringWindow) error {
	values := make(map[string][]byte, len(ws))
	for _, w := range ws {
		data, err := json.Marshal(w)
		if err != nil {
			return fmt.Errorf("save maintenance window %s: %w", w.ID, err)
		}
		values[w.ID] = data
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.windows = slices.Clone(ws)
	a.store.ReplaceState(kindWindow, values)
	return nil
}

// Tokens keeps the confirmation tokens' records (bot.TokenStore) in a
// StateStore.
type Tokens struct {
	store   StateStore
	timeout time.Duration
}

var _ bot.TokenStore = (*Tokens)(nil)

// tokensLoadTimeout bounds the read of the tokens at start.
const tokensLoadTimeout = 15 * time.Second

// NewTokens returns the token records in store. It does no I/O.
func NewTokens(store StateStore) (*Tokens, error) {
	if store == nil {
		return nil, errors.New("new tokens: no store")
	}
	return &Tokens{store: store, timeout: tokensLoadTimeout}, nil
}

// LoadTokens implements bot.TokenStore.
func (t *Tokens) LoadTokens() (map[string][]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), t.timeout)
	defer cancel()
	recs, err := t.store.LoadState(ctx, kindToken)
	if err != nil {
		return nil, fmt.Errorf("load tokens: %w", err)
	}
	return recs, nil
}

// PutToken implements bot.TokenStore; it does not block.
func (t *Tokens) PutToken(hash string, rec []byte) { t.store.PutState(kindToken, hash, rec) }

// DeleteToken implements bot.TokenStore; it does not block.
func (t *Tokens) DeleteToken(hash string) { t.store.DeleteState(kindToken, hash) }

// Importer takes, once, state kept elsewhere before: *history.Store
// implements it (history.Store.ImportState).
type Importer interface {
	ImportState(ctx context.Context, docs map[string]map[string][]byte) (bool, error)
}

var _ Importer = (*history.Store)(nil)

// ImportedSuffix is added to the name of a state file ImportFiles moved
// into the history: a bot of an older version finds its state again if the
// file is renamed back by hand.
const ImportedSuffix = ".imported"

// UnreadableSuffix is added to the name of a state file ImportFiles could
// not decode: its state is lost, as an older bot would lose it.
const UnreadableSuffix = ".unreadable"

// ImportFiles moves the state files of an older bot in dir (the state dir:
// alerts.AlertStateFile, with the alert state and the added windows, and
// bot.ConfirmFile, with the tokens) into store, in one transaction, when
// store holds none of their kinds yet; then it renames the files with
// ImportedSuffix and logs it. A file it cannot decode is set aside
// (UnreadableSuffix) and not imported. When store already holds state the
// files are left alone (logged). It returns an error when the import
// failed: the files are then unchanged, and the caller keeps using them.
func ImportFiles(ctx context.Context, store Importer, dir string, log zerolog.Logger) error {
	alertsPath := filepath.Join(dir, alerts.AlertStateFile)
	confirmPath := filepath.Join(dir, bot.ConfirmFile)
	docs := make(map[string]map[string][]byte)
	var files []string

	if exists(alertsPath) {
		states, windows, err := readAlertFile(dir)
		if err != nil {
			setAside(alertsPath, err, log)
		} else {
			docs[kindAlert], docs[kindWindow] = states, windows
			files = append(files, alertsPath)
		}
	}
	if exists(confirmPath) {
		recs, err := bot.ReadConfirmFile(confirmPath)
		if err != nil {
			setAside(confirmPath, err, log)
		} else {
			if recs == nil {
				recs = map[string][]byte{}
			}
			docs[kindToken] = recs
			files = append(files, confirmPath)
		}
	}
	if len(files) == 0 {
		return nil
	}
	ok, err := store.ImportState(ctx, docs)
	if err != nil {
		return fmt.Errorf("import %v: %w", files, err)
	}
	if !ok {
		log.Warn().Strs("files", files).Msg("the history already holds the alert state and tokens: the older state files are not imported, and not read")
		return nil
	}
	ev := log.Info().Int("services", len(docs[kindAlert])).Int("windows", len(docs[kindWindow])).Int("tokens", len(docs[kindToken]))
	for _, f := range files {
		if err := os.Rename(f, f+ImportedSuffix); err != nil {
			log.Error().Err(err).Str("file", f).Msg("imported into the history, but not renamed: it is no longer read")
			continue
		}
	}
	ev.Strs("files", files).Str("renamed_with", ImportedSuffix).Msg("state files imported into the history")
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// readAlertFile encodes the documents of alerts.AlertStateFile in dir as
// AlertState keeps them.
func readAlertFile(dir string) (states, windows map[string][]byte, err error) {
	f, err := alerts.NewFileStateStore(dir)
	if err != nil {
		return nil, nil, err
	}
	sts, ws, err := f.Snapshot()
	if err != nil {
		return nil, nil, err
	}
	states, windows = make(map[string][]byte, len(sts)), make(map[string][]byte, len(ws))
	for _, service := range slices.Sorted(maps.Keys(sts)) {
		if states[service], err = json.Marshal(sts[service]); err != nil {
			return nil, nil, err
		}
	}
	for _, w := range ws {
		if windows[w.ID], err = json.Marshal(w); err != nil {
			return nil, nil, err
		}
	}
	return states, windows, nil
}

// setAside renames a state file that cannot be decoded, so that it is not
// tried again; its state is lost (logged).
func setAside(path string, why error, log zerolog.Logger) {
	aside := path + UnreadableSuffix
	if err := os.Rename(path, aside); err != nil {
		log.Error().Err(why).AnErr("rename", err).Str("file", path).Msg("state file unreadable: not imported")
		return
	}
	log.Error().Err(why).Str("file", path).Str("moved_to", aside).Msg("state file unreadable: set aside, not imported")
}
