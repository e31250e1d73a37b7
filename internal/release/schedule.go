package release

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// stateName is the scheduled flips' file in the state directory, and
// lockName the file locked around every change to it.
const (
	stateName = "release-flips.json"
	lockName  = "release-flips.lock"
)

// ErrNotScheduled is returned by Cancel for a path with no scheduled flip.
var ErrNotScheduled = errors.New("no flip scheduled")

// Scheduled is one flip waiting for its time.
type Scheduled struct {
	// Path is relative to the tree's root, slash-separated, as Flip
	// reports it. A path has at most one scheduled flip.
	Path string `json:"path"`
	// At is when the flip is due (UTC).
	At time.Time `json:"at"`
	// Created is when it was scheduled.
	Created time.Time `json:"created"`
	// Attempts counts failed runs; LastError is the last failure. A failed
	// flip stays scheduled and is retried by the next RunDue.
	Attempts  int    `json:"attempts,omitempty"`
	LastError string `json:"last_error,omitempty"`
}

// state is the JSON state file.
type state struct {
	Version int         `json:"version"`
	Flips   []Scheduled `json:"flips"`
}

// Scheduler keeps flips scheduled for later in a small JSON file in
// StateDir. The CLI schedules and cancels; a long-running process (the
// mirror server) calls RunDue periodically, or Run. Changes are serialised
// by a lock file, so both may run at once, and each write is atomic.
type Scheduler struct {
	// Root is the mirror tree.
	Root string
	// StateDir holds the state file; it is created (0750) on first use.
	StateDir string
	// Now is the clock; nil is time.Now. Tests pin it.
	Now func() time.Time
	// Logger receives a line per schedule change and flip; nil discards.
	Logger *slog.Logger
}

func (s *Scheduler) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Scheduler) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Schedule records a flip of rel at the given time, replacing an earlier
// schedule of the same path. The path must exist and be a directory or
// file that no symlink leads to; at must be in the future (flip now with
// Flip instead).
func (s *Scheduler) Schedule(rel string, at time.Time) (Scheduled, error) {
	name, err := clean(s.Root, rel)
	if err != nil {
		return Scheduled{}, err
	}
	if err := s.check(name); err != nil {
		return Scheduled{}, err
	}
	now := s.now()
	if !at.After(now) {
		return Scheduled{}, fmt.Errorf("release: %s is not in the future (now %s); flip now instead", at.UTC().Format(time.RFC3339), now.Format(time.RFC3339))
	}
	sc := Scheduled{Path: name, At: at.UTC(), Created: now}
	err = s.update(func(st *state) error {
		st.Flips = slices.DeleteFunc(st.Flips, func(f Scheduled) bool { return f.Path == name })
		st.Flips = append(st.Flips, sc)
		return nil
	})
	if err != nil {
		return Scheduled{}, err
	}
	s.log().Info("bit flip scheduled", "path", name, "at", sc.At)
	return sc, nil
}

// check makes sure name can be flipped: it exists, and neither it nor a
// directory on the way is a symlink.
func (s *Scheduler) check(name string) error {
	r, err := os.OpenRoot(s.Root)
	if err != nil {
		return fmt.Errorf("release: open tree: %w", err)
	}
	defer r.Close()
	parent, _, _, err := walkTo(r, name)
	if err != nil {
		return err
	}
	closeSub(parent, r)
	return nil
}

// Cancel removes the scheduled flip of rel and returns it.
func (s *Scheduler) Cancel(rel string) (Scheduled, error) {
	name, err := clean(s.Root, rel)
	if err != nil {
		return Scheduled{}, err
	}
	var removed Scheduled
	err = s.update(func(st *state) error {
		i := slices.IndexFunc(st.Flips, func(f Scheduled) bool { return f.Path == name })
		if i < 0 {
			return fmt.Errorf("release: %s: %w", name, ErrNotScheduled)
		}
		removed = st.Flips[i]
		st.Flips = slices.Delete(st.Flips, i, i+1)
		return nil
	})
	if err != nil {
		return Scheduled{}, err
	}
	s.log().Info("scheduled bit flip cancelled", "path", name, "was_at", removed.At)
	return removed, nil
}

// List returns the scheduled flips, earliest first.
func (s *Scheduler) List() ([]Scheduled, error) {
	st, err := s.read()
	if err != nil {
		return nil, err
	}
	return st.Flips, nil
}

// Due returns the flips due at now, in the order RunDue runs them.
func (s *Scheduler) Due(now time.Time) ([]Scheduled, error) {
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	return due(all, now), nil
}

// due keeps the flips due at now, parents before what they contain (a
// parent's flip opens its whole subtree, so the children's then change
// nothing), then by time.
func due(all []Scheduled, now time.Time) []Scheduled {
	var out []Scheduled
	for _, f := range all {
		if !f.At.After(now) {
			out = append(out, f)
		}
	}
	slices.SortStableFunc(out, func(a, b Scheduled) int {
		return cmp.Or(cmp.Compare(depth(a.Path), depth(b.Path)), a.At.Compare(b.At), strings.Compare(a.Path, b.Path))
	})
	return out
}

func depth(p string) int {
	if p == "." {
		return 0
	}
	return strings.Count(p, "/") + 1
}

// Result is the outcome of one scheduled flip run by RunDue.
type Result struct {
	Scheduled Scheduled
	Summary   Summary
	Err       error
}

// RunDue runs every flip due now and removes each that succeeds from the
// state; one that fails stays, with its error, to be retried next time.
// The returned error covers the state file; flip failures are in the
// Results (and joined into the error too).
func (s *Scheduler) RunDue(ctx context.Context) ([]Result, error) {
	todo, err := s.Due(s.now())
	if err != nil {
		return nil, err
	}
	var results []Result
	var errs []error
	for _, sc := range todo {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("release: scheduled flips interrupted: %w", err))
			break
		}
		sum, ferr := Flip(ctx, s.Root, sc.Path, Options{Logger: s.log()})
		results = append(results, Result{Scheduled: sc, Summary: sum, Err: ferr})
		uerr := s.update(func(st *state) error {
			i := slices.IndexFunc(st.Flips, func(f Scheduled) bool { return f.Path == sc.Path && f.At.Equal(sc.At) })
			if i < 0 {
				return nil // cancelled or rescheduled meanwhile
			}
			if ferr == nil {
				st.Flips = slices.Delete(st.Flips, i, i+1)
			} else {
				st.Flips[i].Attempts++
				st.Flips[i].LastError = ferr.Error()
			}
			return nil
		})
		errs = append(errs, ferr, uerr)
	}
	return results, errors.Join(errs...)
}

// Run calls RunDue now and then every interval until ctx ends. Failures
// are logged and retried; Run returns nil when ctx ends.
func (s *Scheduler) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("release: interval %v must be positive", interval)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.RunDue(ctx); err != nil && ctx.Err() == nil {
			s.log().Error("scheduled bit flips", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Scheduler) path() string { return filepath.Join(s.StateDir, stateName) }

// read loads the state; a missing file is an empty state.
func (s *Scheduler) read() (state, error) {
	if s.StateDir == "" {
		return state{}, errors.New("release: no state directory given")
	}
	b, err := os.ReadFile(s.path())
	if errors.Is(err, fs.ErrNotExist) {
		return state{Version: 1}, nil
	}
	if err != nil {
		return state{}, fmt.Errorf("release: read scheduled flips: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return state{}, fmt.Errorf("release: read scheduled flips %s: %w", s.path(), err)
	}
	if st.Version != 1 {
		return state{}, fmt.Errorf("release: %s: unknown version %d", s.path(), st.Version)
	}
	return st, nil
}

// update changes the state under the lock and writes it atomically; when
// change fails nothing is written.
func (s *Scheduler) update(change func(*state) error) error {
	if s.StateDir == "" {
		return errors.New("release: no state directory given")
	}
	if err := os.MkdirAll(s.StateDir, 0o750); err != nil {
		return fmt.Errorf("release: state dir: %w", err)
	}
	unlock, err := lock(filepath.Join(s.StateDir, lockName))
	if err != nil {
		return fmt.Errorf("release: lock scheduled flips: %w", err)
	}
	defer unlock()
	st, err := s.read()
	if err != nil {
		return err
	}
	if err := change(&st); err != nil {
		return err
	}
	st.Version = 1
	if st.Flips == nil {
		st.Flips = []Scheduled{}
	}
	slices.SortStableFunc(st.Flips, func(a, b Scheduled) int {
		return cmp.Or(a.At.Compare(b.At), strings.Compare(a.Path, b.Path))
	})
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	return writeAtomic(s.path(), append(b, '\n'))
}

func writeAtomic(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("release: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("release: write %s: %w", path, err)
		}
	}()
	if err := f.Chmod(0o640); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
