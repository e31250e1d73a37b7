package syncer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/rsync"
)

// Options is a Syncer's environment, shared by all jobs of one process.
type Options struct {
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Clock times stages and backoffs; nil is SystemClock.
	Clock Clock
	// Version is the mirrorkit version written into traces.
	Version string
	// Hostname is written into traces; "" is os.Hostname().
	Hostname string
	// HTTPClient fetches http(s) upstream traces; nil uses a client with
	// the job's timeouts.
	HTTPClient *http.Client
}

// Syncer runs one job. It is safe for concurrent use, and several
// processes may hold a Syncer for the same job: the lock in the state
// directory serialises runs among all of them.
type Syncer struct {
	s        settings
	log      *slog.Logger
	clock    Clock
	version  string
	hostname string
	http     *http.Client
}

// New validates the job and returns its Syncer.
func New(job Job, o Options) (*Syncer, error) {
	s, err := job.settings()
	if err != nil {
		return nil, err
	}
	r := &Syncer{s: s, log: o.Logger, clock: o.Clock, version: o.Version, hostname: o.Hostname, http: o.HTTPClient}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With("job", job.Name)
	if r.clock == nil {
		r.clock = SystemClock{}
	}
	if r.version == "" {
		r.version = "devel"
	}
	if r.hostname == "" {
		if r.hostname, err = os.Hostname(); err != nil {
			r.hostname = "unknown"
		}
	}
	return r, nil
}

// Name is the job's name.
func (r *Syncer) Name() string { return r.s.Name }

// Job returns the job as configured (defaults not filled in).
func (r *Syncer) Job() Job { return r.s.Job }

// Status reads the job's status; see ReadStatus.
func (r *Syncer) Status() (Status, error) { return ReadStatus(r.s.StateDir, r.s.Name) }

// RunOptions are one request's choices.
type RunOptions struct {
	// Force syncs even when the upstream trace is unchanged.
	Force bool
	// DryRun runs rsync with --dry-run: it reports what would change and
	// changes nothing, neither the tree nor the job's state. A dry run
	// takes no lock and may run beside a real one.
	DryRun bool
	// Trigger says who asked ("cron", "every", "push", "manual"); it is
	// logged and written into the trace.
	Trigger string
	// MaxDeleteShare overrides the job's share for this run only (0 keeps
	// the job's), so an operator can let one expected big deletion pass.
	MaxDeleteShare float64
	// Progress, when set, is called from the goroutine reading rsync's
	// output as items and progress updates arrive; keep it quick.
	Progress func(Progress)
	// OnItem, when set, sees every item rsync reports (a verbose listing).
	OnItem func(stage int, it Item)
}

// ErrRefused is wrapped by the error of a run the max-delete guard stopped.
var ErrRefused = errors.New("max-delete guard")

// RefusedError is a run stopped by the max-delete guard.
type RefusedError struct {
	Dest    string
	Pending int
	Tree    int64
	Share   float64
	// Backstop: rsync's own --max-delete stopped the final pass (the
	// upstream changed between the stages); Deleted deletions happened.
	Backstop bool
	Deleted  int
}

func (e *RefusedError) Error() string {
	if e.Backstop {
		return fmt.Sprintf("max-delete guard: rsync's --max-delete stopped deletions in %s after %d (limit %.0f%% of %d entries); the upstream changed during the run",
			e.Dest, e.Deleted, e.Share*100, e.Tree)
	}
	pct := 0.0
	if e.Tree > 0 {
		pct = float64(e.Pending) * 100 / float64(e.Tree)
	}
	return fmt.Sprintf("max-delete guard: refusing to delete %d of %d entries (%.1f%%) in %s, more than the allowed %.0f%%; "+
		"nothing was deleted and the repository metadata was left as it was. If the upstream really removed that much, allow it for one run (a higher max-delete share)",
		e.Pending, e.Tree, pct, e.Dest, e.Share*100)
}

func (e *RefusedError) Unwrap() error { return ErrRefused }

// Handle is a run started by Start.
type Handle struct {
	queued bool
	done   chan struct{}
	res    Result
	err    error
}

// Queued reports that another run held the lock, so this request was
// turned into a re-run flag for it; Wait returns at once.
func (h *Handle) Queued() bool { return h.queued }

// Done is closed when the run (and the re-runs it picked up) has ended.
func (h *Handle) Done() <-chan struct{} { return h.done }

// Wait waits for the run and returns its result.
func (h *Handle) Wait() (Result, error) {
	<-h.done
	return h.res, h.err
}

// Run syncs the job and waits: Start, then Wait. When another run holds
// the job's lock it returns at once with OutcomeQueued and no error, and
// that run goes once more after it ends. The error explains a failed,
// refused or canceled run; the Result is filled in either way.
func (r *Syncer) Run(ctx context.Context, o RunOptions) (Result, error) {
	h, err := r.Start(ctx, o)
	if err != nil {
		now := r.clock.Now()
		return Result{Job: r.s.Name, Outcome: OutcomeFailed, Trigger: o.Trigger, Started: now, Finished: now, Error: err.Error()}, err
	}
	return h.Wait()
}

// Start takes the job's lock and runs in the background; it returns once
// the run has either started or been queued behind a running one.
//
// Queueing is race-free across goroutines and processes: a requester that
// finds the lock taken sets the re-run flag and then tries the lock once
// more, and a holder checks the flag again after releasing the lock. So a
// flag is always seen by someone who then runs.
func (r *Syncer) Start(ctx context.Context, o RunOptions) (*Handle, error) {
	if o.DryRun {
		h := &Handle{done: make(chan struct{})}
		go func() {
			defer close(h.done)
			h.res, h.err = r.runOnce(ctx, o)
		}()
		return h, nil
	}
	if err := os.MkdirAll(r.s.stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("sync %s: state directory: %w", r.s.Name, err)
	}
	lk, ok, err := tryLock(r.s.statePath(lockFile))
	if err != nil {
		return nil, fmt.Errorf("sync %s: %w", r.s.Name, err)
	}
	if !ok {
		if err := r.requestRerun(o.Force); err != nil {
			return nil, err
		}
		if lk, ok, err = tryLock(r.s.statePath(lockFile)); err != nil {
			return nil, fmt.Errorf("sync %s: %w", r.s.Name, err)
		}
		if !ok {
			r.log.Info("a run is in progress; queued one more run after it", "trigger", o.Trigger)
			now := r.clock.Now()
			h := &Handle{queued: true, done: make(chan struct{}),
				res: Result{Job: r.s.Name, Outcome: OutcomeQueued, Trigger: o.Trigger, Started: now, Finished: now}}
			close(h.done)
			return h, nil
		}
	}
	running, err := lockWait(r.s.statePath(runningFile))
	if err != nil {
		lk.unlock()
		return nil, fmt.Errorf("sync %s: %w", r.s.Name, err)
	}
	h := &Handle{done: make(chan struct{})}
	go func() {
		defer close(h.done)
		h.res, h.err = r.loop(ctx, o, lk, running)
	}()
	return h, nil
}

func (r *Syncer) requestRerun(force bool) error {
	content := []byte("rerun\n")
	if force {
		content = []byte("force\n")
	}
	p := r.s.statePath(rerunFile)
	if !force && exists(p) {
		return nil
	}
	if err := writeFileAtomic(p, content, 0o644); err != nil {
		return fmt.Errorf("sync %s: queue a re-run: %w", r.s.Name, err)
	}
	return nil
}

// takeRerun removes the re-run flag; the run about to start serves every
// request made so far. It reports whether one asked for force.
func (r *Syncer) takeRerun() (present, force bool) {
	p := r.s.statePath(rerunFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return false, false
	}
	os.Remove(p)
	return true, bytes.HasPrefix(b, []byte("force"))
}

// loop runs while holding the lock, then once per re-run request.
func (r *Syncer) loop(ctx context.Context, o RunOptions, lk, running *fileLock) (Result, error) {
	defer func() {
		running.unlock()
		lk.unlock()
	}()
	reruns := 0
	for {
		_, force := r.takeRerun()
		opts := o
		if reruns > 0 {
			opts = RunOptions{Trigger: "rerun", Progress: o.Progress, OnItem: o.OnItem}
		}
		opts.Force = opts.Force || force
		res, err := r.runOnce(ctx, opts)
		res.Reruns = reruns
		if ctx.Err() != nil {
			return res, err
		}
		if exists(r.s.statePath(rerunFile)) {
			reruns++
			r.log.Info("running once more: requested while the last run was in progress")
			continue
		}
		running.unlock()
		lk.unlock()
		if !exists(r.s.statePath(rerunFile)) {
			return res, err
		}
		// Requested between our check and the unlock: take it if nobody
		// else did (whoever did sees the flag after their run).
		var ok bool
		var lerr error
		if lk, ok, lerr = tryLock(r.s.statePath(lockFile)); lerr != nil || !ok {
			return res, err
		}
		if running, lerr = lockWait(r.s.statePath(runningFile)); lerr != nil {
			return res, err
		}
		reruns++
	}
}

// runOnce is one run under the lock (or a dry run without it).
func (r *Syncer) runOnce(ctx context.Context, o RunOptions) (res Result, err error) {
	log := r.log
	if o.Trigger != "" {
		log = log.With("trigger", o.Trigger)
	}
	res = Result{Job: r.s.Name, Trigger: o.Trigger, Started: r.clock.Now()}
	markerCreated := false
	defer func() {
		if markerCreated {
			r.removeInProgress(log)
		}
		res.Finished = r.clock.Now()
		res.Duration = res.Finished.Sub(res.Started)
		if err != nil {
			if res.Outcome == "" || res.Outcome == OutcomeSynced {
				res.Outcome = OutcomeFailed
			}
			if ctx.Err() != nil {
				res.Outcome = OutcomeCanceled
			}
			res.Error = err.Error()
			err = fmt.Errorf("sync %s: %w", r.s.Name, err)
		}
		if !o.DryRun {
			if serr := r.saveStatus(res); serr != nil {
				log.Error("cannot save the run's status", "error", serr)
			}
		}
		attrs := []any{"outcome", res.Outcome, "added", res.Added, "changed", res.Changed, "deleted", res.Deleted,
			"bytes", res.BytesReceived, "duration", res.Duration.Round(time.Millisecond)}
		if err != nil {
			log.Error("sync ended", append(attrs, "error", res.Error)...)
		} else {
			log.Info("sync ended", attrs...)
		}
	}()

	password := ""
	if r.s.PasswordFile != "" {
		if password, err = readPasswordFile(r.s.PasswordFile); err != nil {
			return res, fmt.Errorf("password file: %w", err)
		}
	}
	dirty := false
	if !o.DryRun {
		if dirty, err = r.recover(ctx, log); err != nil {
			return res, err
		}
	}

	var trace []byte
	stamp := ""
	if r.s.UpstreamTrace != "" && !isHTTP(r.s.UpstreamTrace) {
		// Over rsync, list the trace first: an unchanged size and time
		// settle a no-op without fetching it.
		var serr error
		switch stamp, serr = r.stampRsync(ctx, r.s.UpstreamTrace, password); {
		case ctx.Err() != nil:
			return res, ctx.Err()
		case serr != nil:
			stamp = ""
		case !o.Force && !dirty:
			if up, ok := r.unchangedStamp(stamp); ok {
				res.UpstreamTrace = string(up.Trace[:min(len(up.Trace), 4096)])
				res.Outcome = OutcomeUnchanged
				return res, nil
			}
		}
	}
	if r.s.UpstreamTrace != "" {
		var ferr error
		trace, ferr = r.fetch(ctx, r.s.UpstreamTrace, password)
		switch {
		case ctx.Err() != nil:
			return res, ctx.Err()
		case ferr != nil:
			log.Warn("cannot read the upstream trace; syncing without the unchanged check", "error", ferr)
			trace = nil
		default:
			res.UpstreamTrace = string(trace[:min(len(trace), 4096)])
			if !o.Force && !dirty && r.unchanged(trace) {
				res.Outcome = OutcomeUnchanged
				// Same content, new listing (a touched trace, or state
				// from before stamps): keep it, so the next no-op is quick.
				if up, _ := r.lastUpstream(); stamp != "" && up.Stamp != stamp && !o.DryRun {
					up.Stamp = stamp
					if err := writeJSON(r.s.statePath(upstreamFile), up); err != nil {
						return res, fmt.Errorf("state: %w", err)
					}
				}
				return res, nil
			}
		}
	}

	if !o.DryRun {
		if err := os.WriteFile(r.s.statePath(dirtyFile), []byte(r.clock.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
			return res, fmt.Errorf("state: %w", err)
		}
		if err := os.MkdirAll(r.s.Dest, 0o755); err != nil {
			return res, fmt.Errorf("dest: %w", err)
		}
		if r.s.InProgressFile != "" {
			markerCreated = true
			msg := fmt.Sprintf("%s %s\n", r.hostname, r.clock.Now().UTC().Format(time.RFC3339))
			if err := writeFileAtomic(filepath.Join(r.s.Dest, r.s.InProgressFile), []byte(msg), 0o644); err != nil {
				return res, err
			}
		}
	}

	if err := r.attempts(ctx, o, &res, password, log); err != nil {
		return res, err
	}
	if o.DryRun {
		res.Outcome = OutcomeDryRun
		return res, nil
	}
	res.Outcome = OutcomeSynced
	if err := r.writeTraces(ctx, &res, trace, password); err != nil {
		return res, err
	}
	up := upstreamDoc{Trace: trace, Stamp: stamp, Config: r.s.configHash(), Saved: r.clock.Now().UTC()}
	if trace == nil {
		// Synced without knowing the trace: nothing to compare next time.
		err = os.Remove(r.s.statePath(upstreamFile))
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
	} else {
		err = writeJSON(r.s.statePath(upstreamFile), up)
	}
	if err != nil {
		return res, fmt.Errorf("state: %w", err)
	}
	if err := os.Remove(r.s.statePath(dirtyFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, fmt.Errorf("state: %w", err)
	}
	if len(r.s.Hook) > 0 {
		if herr := r.runHook(ctx, &res); herr != nil {
			res.HookError = herr.Error()
			log.Error("hook failed", "hook", r.s.Hook[0], "error", herr)
		}
	}
	return res, nil
}

// unchanged: the trace equals the one of the last sync, made with the same
// configuration, and that sync's trace is still in the tree.
func (r *Syncer) unchanged(trace []byte) bool {
	up, ok := r.lastUpstream()
	return ok && bytes.Equal(up.Trace, trace)
}

// unchangedStamp is unchanged for an rsync trace's listing: the same size
// and modification time as before the last sync.
func (r *Syncer) unchangedStamp(stamp string) (upstreamDoc, bool) {
	up, ok := r.lastUpstream()
	return up, ok && up.Stamp != "" && up.Stamp == stamp
}

// lastUpstream reads what the last successful sync saw upstream, if that
// sync ran with the same configuration and its trace is still in the tree.
func (r *Syncer) lastUpstream() (upstreamDoc, bool) {
	var up upstreamDoc
	if err := readJSON(r.s.statePath(upstreamFile), &up); err != nil || up.Trace == nil {
		return up, false
	}
	return up, up.Config == r.s.configHash() && exists(filepath.Join(r.s.Dest, filepath.FromSlash(r.s.tracePath())))
}

// recover cleans up after a run that did not finish: it kills an rsync a
// killed agent left running, removes rsync's delayed-update directories
// (rsync protects them from deletion, so they would stay forever) and a
// stale in-progress file. It reports whether the last run was unclean.
func (r *Syncer) recover(ctx context.Context, log *slog.Logger) (bool, error) {
	if rec, err := os.ReadFile(r.s.statePath(pidFile)); err == nil {
		killed, err := killRecorded(ctx, string(rec))
		if killed {
			log.Warn("killed an rsync left running by a crashed run", "pid", string(bytes.Fields(rec)[0]))
		}
		if err != nil {
			return true, err
		}
		os.Remove(r.s.statePath(pidFile))
	}
	if r.s.InProgressFile != "" {
		p := filepath.Join(r.s.Dest, r.s.InProgressFile)
		if err := os.Remove(p); err == nil {
			log.Warn("removed a stale in-progress file", "file", p)
		}
	}
	if !exists(r.s.statePath(dirtyFile)) {
		return false, nil
	}
	n, err := removeDelayDirs(ctx, r.s.Dest)
	if err != nil {
		return true, fmt.Errorf("clean up after the last run: %w", err)
	}
	log.Warn("the last run did not finish; cleaned up", "tmp_dirs_removed", n)
	return true, nil
}

// removeDelayDirs removes rsync's --delay-updates directories (.~tmp~).
func removeDelayDirs(ctx context.Context, root string) (int, error) {
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() && d.Name() == ".~tmp~" {
			n++
			if err := os.RemoveAll(p); err != nil {
				return err
			}
			return filepath.SkipDir
		}
		return nil
	})
	return n, err
}

func (r *Syncer) removeInProgress(log *slog.Logger) {
	p := filepath.Join(r.s.Dest, r.s.InProgressFile)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Error("cannot remove the in-progress file", "file", p, "error", err)
	}
}

func (r *Syncer) saveStatus(res Result) error {
	if err := os.MkdirAll(r.s.stateDir, 0o755); err != nil {
		return err
	}
	var doc statusDoc
	if err := readJSON(r.s.statePath(statusFile), &doc); err != nil {
		doc = statusDoc{}
	}
	doc.Last = &res
	if res.Outcome == OutcomeSynced {
		doc.LastSynced = &res
	}
	return writeJSON(r.s.statePath(statusFile), doc)
}

// stageError is a failed pass; retry says whether trying the whole run
// again may help.
type stageError struct {
	pass  pass
	err   error
	retry bool
}

func (e *stageError) Error() string {
	return fmt.Sprintf("stage %d (%s pass): %v", e.pass.stage(), e.pass, e.err)
}

func (e *stageError) Unwrap() error { return e.err }

// attempts runs the stages, retrying transient failures with backoff. A
// retry always starts again at stage 1: whatever the upstream added since
// must be copied before its metadata.
func (r *Syncer) attempts(ctx context.Context, o RunOptions, res *Result, password string, log *slog.Logger) error {
	delay := r.s.initial
	for attempt := 1; ; attempt++ {
		res.Attempts = attempt
		err := r.stages(ctx, o, res, password, log)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		var se *stageError
		if errors.As(err, &se) && se.retry && attempt < r.s.attempts {
			log.Warn("transient failure; retrying from stage 1", "attempt", attempt, "attempts", r.s.attempts, "backoff", delay, "error", err)
			if err := r.clock.Sleep(ctx, delay); err != nil {
				return fmt.Errorf("waiting to retry: %w", err)
			}
			delay = min(delay*2, r.s.max)
			continue
		}
		if errors.Is(err, ErrRefused) {
			res.Outcome = OutcomeRefused
		}
		return err
	}
}

func exitError(err error) *rsync.ExitError {
	var ee *rsync.ExitError
	if errors.As(err, &ee) {
		return ee
	}
	return nil
}

func (sr *StageResult) add(ps passStats, d time.Duration) {
	sr.Files = max(sr.Files, ps.Files)
	sr.Added += ps.Added
	sr.Changed += ps.Changed
	sr.Deleted += ps.Deleted
	sr.BytesReceived += ps.BytesReceived
	sr.Duration += d
}

func (res *Result) addStage(sr StageResult) {
	res.Stages = append(res.Stages, sr)
	res.Added += sr.Added
	res.Changed += sr.Changed
	res.Deleted += sr.Deleted
	res.BytesReceived += sr.BytesReceived
}

func (res *Result) noteExit(err error) {
	if ee := exitError(err); ee != nil {
		res.RsyncExit, res.RsyncMeaning, res.RsyncError = ee.Code, ee.Meaning, ee.LastLine
	}
}

// stages is one attempt: stage 1, the max-delete guard, stage 2.
func (r *Syncer) stages(ctx context.Context, o RunOptions, res *Result, password string, log *slog.Logger) error {
	res.Stages, res.Added, res.Changed, res.Deleted, res.BytesReceived = nil, 0, 0, 0, 0
	res.RsyncExit, res.RsyncMeaning, res.RsyncError = 0, "", ""

	// Stage 1: content, nothing deleted, pending deletions counted.
	t0 := r.clock.Now()
	ps, err := r.pass(ctx, o, passContent, password, -1, log)
	st1 := StageResult{Stage: 1, ExitCode: exitCode(err)}
	st1.add(ps, r.clock.Now().Sub(t0))
	res.addStage(st1)
	res.noteExit(err)
	if ee := exitError(err); ee != nil && err == error(ee) {
		switch {
		case ee.Code == rsync.ExitDelLimit && ps.SkippedDeletes >= 0:
			// --max-delete=0 held the deletions back, as asked.
			err = nil
		case ee.Code == rsync.ExitVanished:
			// Files vanished upstream mid-copy: the upstream is being
			// updated. Nothing was deleted and stage 2 lists afresh.
			log.Warn("some files vanished upstream during stage 1", "rsync_error", ee.LastLine)
			err = nil
		}
		if err == nil {
			res.RsyncExit, res.RsyncMeaning, res.RsyncError = 0, "", ""
		}
	}
	if err != nil {
		return &stageError{pass: passContent, err: err, retry: retryable(err, false)}
	}
	if !ps.statsSeen {
		return &stageError{pass: passContent, err: errors.New("rsync printed no statistics")}
	}

	// The guard: after stage 1 the tree holds everything upstream has
	// (outside metadata), so the tree is upstream's entries plus the
	// ones rsync would delete.
	pending := max(ps.SkippedDeletes, 0)
	tree := ps.Files + int64(pending)
	share := r.s.share
	if o.MaxDeleteShare > 0 {
		share = o.MaxDeleteShare
	}
	limit := -1
	res.PendingDeletes, res.TreeSize = pending, tree
	if share < 1 {
		limit = int(share * float64(tree))
		if pending > limit {
			return &RefusedError{Dest: r.s.Dest, Pending: pending, Tree: tree, Share: share}
		}
	}

	// Stage 2: metadata (the top indexes last), then deletions.
	st2 := StageResult{Stage: 2}
	defer func() { res.addStage(st2) }()
	if len(r.s.metadataLast) > 0 && len(r.s.metadata) > 0 {
		t := r.clock.Now()
		ps, err := r.pass(ctx, o, passMetadata, password, -1, log)
		st2.add(ps, r.clock.Now().Sub(t))
		st2.ExitCode = exitCode(err)
		res.noteExit(err)
		if err != nil {
			return &stageError{pass: passMetadata, err: err, retry: retryable(err, false)}
		}
	}
	t := r.clock.Now()
	ps, err = r.pass(ctx, o, passFinal, password, limit, log)
	st2.add(ps, r.clock.Now().Sub(t))
	st2.ExitCode = exitCode(err)
	res.noteExit(err)
	if err == nil {
		return nil
	}
	deleted := ps.Deleted + ps.DirsDeleted
	if ee := exitError(err); ee != nil && err == error(ee) {
		switch {
		case ee.Code == rsync.ExitDelLimit:
			return &RefusedError{Dest: r.s.Dest, Tree: tree, Share: share, Backstop: true, Deleted: deleted}
		case ee.Code == rsync.ExitVanished && deleted > 0:
			// The transfer and the deletions completed; what vanished
			// upstream is gone there too.
			log.Warn("some files vanished upstream during stage 2", "rsync_error", ee.LastLine)
			res.RsyncExit, res.RsyncMeaning, res.RsyncError = 0, "", ""
			return nil
		}
	}
	return &stageError{pass: passFinal, err: err, retry: retryable(err, deleted > 0)}
}

// retryable decides whether a failed pass is worth another attempt.
// Network trouble and timeouts are. A partial transfer (23) or vanished
// files (24) mean the upstream was mid-update, so another attempt usually
// succeeds, but only while nothing has been deleted in this pass: once
// rsync's deletion pass has begun, a 23 is a local failure to delete that
// retrying would repeat, and it is reported instead.
func retryable(err error, deletionsBegan bool) bool {
	ee := exitError(err)
	if ee == nil {
		return false
	}
	switch ee.Code {
	case rsync.ExitPartial, rsync.ExitVanished:
		return !deletionsBegan
	case rsync.ExitKilled:
		// Killed by someone else (the OOM killer, an operator).
		return false
	}
	return ee.Transient()
}

func exitCode(err error) int {
	if ee := exitError(err); ee != nil {
		return ee.Code
	}
	return 0
}

// pass runs rsync once.
func (r *Syncer) pass(ctx context.Context, o RunOptions, p pass, password string, maxDelete int, log *slog.Logger) (passStats, error) {
	ps := newPassStats()
	prog := Progress{Stage: p.stage(), Pass: p.String(), Percent: -1}
	onItem := func(it Item) {
		prog.Items++
		prog.Last = it.Name
		if o.OnItem != nil {
			o.OnItem(p.stage(), it)
		}
		if o.Progress != nil {
			o.Progress(prog)
		}
	}
	var onProgress func(progress2)
	if o.Progress != nil {
		onProgress = func(p2 progress2) {
			prog.Bytes, prog.Percent = p2.bytes, p2.percent
			if p2.hasChk {
				prog.ToCheck, prog.Total = p2.toCheck, p2.total
			}
			o.Progress(prog)
		}
	}
	args := r.s.rsyncArgs(p, o.DryRun, o.Progress != nil, maxDelete)
	log.Debug("rsync starts", "stage", p.stage(), "pass", p.String(), "args", args)
	pidPath := r.s.statePath(pidFile)
	err := rsync.Run(ctx, rsync.Cmd{
		Path: r.s.Rsync,
		Args: args,
		Env:  passwordEnv(password),
		Stdout: func(rd io.Reader) error {
			return consumeOutput(rd, &ps, onItem, onProgress)
		},
		StderrLine: func(l string) {
			ps.stderrLine(l)
			log.Debug("rsync stderr", "line", l)
		},
		Started: func(pid int) {
			if !o.DryRun {
				if err := os.WriteFile(pidPath, []byte(pidRecord(pid)), 0o644); err != nil {
					log.Warn("cannot record rsync's pid", "error", err)
				}
			}
		},
	})
	if !o.DryRun {
		os.Remove(pidPath)
	}
	if ee := exitError(err); ee != nil {
		expected := p == passContent && ee.Code == rsync.ExitDelLimit
		if !expected {
			log.Warn("rsync failed", "stage", p.stage(), "pass", p.String(), "exit_code", ee.Code,
				"meaning", ee.Meaning, "rsync_error", ee.LastLine)
		}
	}
	return ps, err
}

// runHook runs the hook command with the run described in its environment.
func (r *Syncer) runHook(ctx context.Context, res *Result) error {
	ctx, cancel := context.WithTimeout(ctx, r.s.HookTimeout)
	defer cancel()
	cmd := execCommand(ctx, r.s.Hook)
	cmd.Dir = r.s.Dest
	cmd.Env = append(os.Environ(),
		"MIRRORKIT_JOB="+r.s.Name,
		"MIRRORKIT_DEST="+r.s.Dest,
		"MIRRORKIT_UPSTREAM="+r.s.up.Redacted(),
		"MIRRORKIT_OUTCOME="+string(res.Outcome),
		"MIRRORKIT_TRACE="+filepath.Join(r.s.Dest, filepath.FromSlash(r.s.tracePath())),
		"MIRRORKIT_ADDED="+strconv.Itoa(res.Added),
		"MIRRORKIT_CHANGED="+strconv.Itoa(res.Changed),
		"MIRRORKIT_DELETED="+strconv.Itoa(res.Deleted),
		"MIRRORKIT_BYTES="+strconv.FormatInt(res.BytesReceived, 10),
	)
	out := &tailBuffer{max: 2048}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		if s := bytes.TrimSpace(out.b); len(s) > 0 {
			return fmt.Errorf("%w: %s", err, s)
		}
		return err
	}
	return nil
}

func execCommand(ctx context.Context, argv []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}
