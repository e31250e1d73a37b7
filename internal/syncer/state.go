package syncer

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Files in a job's state directory (StateDir/Name).
const (
	// lockFile is flock'ed for the whole of a run: one run per job.
	lockFile = "lock"
	// runningFile is flock'ed while a run holds lockFile. Status probes it
	// instead of lockFile so that a probe never makes a starting run
	// believe another one is in progress.
	runningFile = "running"
	// rerunFile asks the running holder for one more run ("force" inside
	// makes that run a forced one).
	rerunFile = "rerun"
	// statusFile is the last run's and the last successful sync's Result.
	statusFile = "status.json"
	// upstreamFile is the upstream trace of the last successful sync and
	// the configuration it was made with.
	upstreamFile = "upstream.json"
	// pidFile names the rsync running now (PID and start time).
	pidFile = "rsync.pid"
	// dirtyFile exists from the moment a run may change the tree until it
	// syncs successfully: after a crash or failure the next run cleans up
	// and never skips.
	dirtyFile = "dirty"
	// tmpDir holds fetched upstream traces.
	tmpDir = "tmp"
)

// Status is what `mirrorkit sync status` shows for a job.
type Status struct {
	Job string `json:"job"`
	// Running: a run holds the job's lock now.
	Running bool `json:"running"`
	// RerunQueued: a run was requested while one ran; it will follow.
	RerunQueued bool `json:"rerun_queued"`
	// Unclean: the last run that changed the tree did not finish a sync
	// (it failed, was refused or was killed); the next run cleans up.
	Unclean bool `json:"unclean"`
	// Last is the last run's result (queued requests are not runs).
	Last *Result `json:"last,omitempty"`
	// LastSynced is the last run that synced.
	LastSynced *Result `json:"last_synced,omitempty"`
	// UpstreamTrace is the upstream's trace as of the last successful
	// sync, and UpstreamTraceSaved when it was saved.
	UpstreamTrace      string    `json:"upstream_trace,omitempty"`
	UpstreamTraceSaved time.Time `json:"upstream_trace_saved,omitzero"`
}

type statusDoc struct {
	Last       *Result `json:"last,omitempty"`
	LastSynced *Result `json:"last_synced,omitempty"`
}

type upstreamDoc struct {
	Trace []byte `json:"trace"`
	// Stamp is the upstream trace file's size and modification time as
	// rsync listed them before that sync, for the quick check of an rsync
	// trace; empty when the trace came over HTTP.
	Stamp  string    `json:"stamp,omitempty"`
	Config string    `json:"config"`
	Saved  time.Time `json:"saved"`
}

// ReadStatus reads a job's status from its state directory without
// disturbing a run. A job that never ran has an empty Status.
func ReadStatus(stateDir, job string) (Status, error) {
	if !jobNameRE.MatchString(job) {
		return Status{}, fmt.Errorf("sync status: bad job name %q", job)
	}
	dir := filepath.Join(stateDir, job)
	st := Status{Job: job}
	var err error
	if st.Running, err = lockedByOther(filepath.Join(dir, runningFile)); err != nil {
		return st, fmt.Errorf("sync status %s: %w", job, err)
	}
	st.RerunQueued = exists(filepath.Join(dir, rerunFile))
	st.Unclean = exists(filepath.Join(dir, dirtyFile)) && !st.Running
	var doc statusDoc
	if err := readJSON(filepath.Join(dir, statusFile), &doc); err != nil {
		return st, fmt.Errorf("sync status %s: %w", job, err)
	}
	st.Last, st.LastSynced = doc.Last, doc.LastSynced
	var up upstreamDoc
	if err := readJSON(filepath.Join(dir, upstreamFile), &up); err != nil {
		return st, fmt.Errorf("sync status %s: %w", job, err)
	}
	st.UpstreamTrace, st.UpstreamTraceSaved = string(up.Trace), up.Saved
	return st, nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// readJSON decodes a file; a missing file leaves v alone.
func readJSON(p string, v any) error {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

func writeJSON(p string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(p, append(b, '\n'), 0o644)
}

// writeFileAtomic writes a file by rename, so that a reader (or a crash)
// sees the old or the new content, never a mix. The temporary file is
// named like rsync's own (".name.XXXXXX"), so anything that already
// ignores rsync's temp files ignores it too, and a leftover one in the
// tree is deleted by the next run's rsync.
func writeFileAtomic(p string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(p)
	f, err := os.CreateTemp(dir, "."+base+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	ok = true
	return nil
}

// configHash identifies what a job copies. A saved trace only proves
// "nothing to do" for the configuration that synced it: adding a subtree
// must not be skipped as unchanged.
func (s *settings) configHash() string {
	b, _ := json.Marshal([]any{
		s.up.String(), s.Dest, s.Include, s.Exclude, s.IncludeFrom, s.ExcludeFrom,
		s.subtrees, s.metadata, s.metadataLast, s.traceDir, s.traceName,
	})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (s *settings) statePath(name string) string { return filepath.Join(s.stateDir, name) }
