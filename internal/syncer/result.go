package syncer

import (
	"context"
	"time"
)

// Outcome is how a run ended.
type Outcome string

// Outcomes, with the exit code a CLI should use for each (Outcome.ExitCode).
const (
	// OutcomeSynced: the tree now matches the upstream. Exit 0.
	OutcomeSynced Outcome = "synced"
	// OutcomeUnchanged: the upstream's trace had not changed since the last
	// successful run, so nothing was copied. Exit 0.
	OutcomeUnchanged Outcome = "unchanged"
	// OutcomeQueued: another run of the job was in progress; it will run
	// once more when it ends. Exit 0: the request is not lost.
	OutcomeQueued Outcome = "queued"
	// OutcomeDryRun: a dry run completed; nothing was changed. Exit 0.
	OutcomeDryRun Outcome = "dry-run"
	// OutcomeRefused: the max-delete guard stopped the run before it
	// deleted anything; an operator must look. Exit 6.
	OutcomeRefused Outcome = "refused"
	// OutcomeFailed: rsync (or the agent) failed and retries did not help;
	// the error says why. Exit 1.
	OutcomeFailed Outcome = "failed"
	// OutcomeCanceled: the caller's context ended the run (SIGINT,
	// SIGTERM, shutdown). Exit 130.
	OutcomeCanceled Outcome = "canceled"
)

// ExitCode is the process exit code this package suggests for a CLI, in
// line with docs/cli.md: 1 a failure, 2 and 3 stay the CLI's usage and
// configuration errors (Job.Validate is 3), 6 is new: refused by the guard.
func (o Outcome) ExitCode() int {
	switch o {
	case OutcomeSynced, OutcomeUnchanged, OutcomeQueued, OutcomeDryRun:
		return 0
	case OutcomeRefused:
		return 6
	case OutcomeCanceled:
		return 130
	}
	return 1
}

// OK reports outcomes that are not failures.
func (o Outcome) OK() bool { return o.ExitCode() == 0 }

// StageResult is what one stage did. Stage 2 may run two rsync passes
// (metadata, then the top indexes with deletions); its numbers add up both.
type StageResult struct {
	// Stage is 1 (content) or 2 (metadata and deletions).
	Stage int `json:"stage"`
	// Files is the number of upstream entries the stage considered.
	Files int64 `json:"files"`
	// Added, Changed and Deleted count files and links, not directories.
	Added   int `json:"added"`
	Changed int `json:"changed"`
	Deleted int `json:"deleted"`
	// BytesReceived is what rsync read from the network.
	BytesReceived int64         `json:"bytes_received"`
	Duration      time.Duration `json:"duration_ns"`
	// ExitCode is the last rsync exit code of the stage (0 on success).
	ExitCode int `json:"exit_code"`
}

// Result summarises a run. Run returns one even when it fails.
type Result struct {
	Job     string  `json:"job"`
	Outcome Outcome `json:"outcome"`
	// Trigger says who asked for the run ("cron", "push", "every", ...).
	Trigger  string        `json:"trigger,omitempty"`
	Started  time.Time     `json:"started"`
	Finished time.Time     `json:"finished"`
	Duration time.Duration `json:"duration_ns"`
	// Stages holds stage 1 and stage 2 as far as they ran.
	Stages []StageResult `json:"stages,omitempty"`
	// Added, Changed, Deleted and BytesReceived add up the stages.
	Added         int   `json:"added"`
	Changed       int   `json:"changed"`
	Deleted       int   `json:"deleted"`
	BytesReceived int64 `json:"bytes_received"`
	// Attempts is how many times the run was tried (retries + 1).
	Attempts int `json:"attempts,omitempty"`
	// RsyncExit is the last rsync exit code (0 when rsync succeeded or
	// did not run), RsyncMeaning and RsyncError rsync's explanation.
	RsyncExit    int    `json:"rsync_exit"`
	RsyncMeaning string `json:"rsync_meaning,omitempty"`
	RsyncError   string `json:"rsync_error,omitempty"`
	// PendingDeletes and TreeSize are what the max-delete guard measured.
	PendingDeletes int   `json:"pending_deletes,omitempty"`
	TreeSize       int64 `json:"tree_size,omitempty"`
	// UpstreamTrace is the upstream trace seen at the start (cut to 4 KiB).
	UpstreamTrace string `json:"upstream_trace,omitempty"`
	// Error explains a failed, refused or canceled run.
	Error string `json:"error,omitempty"`
	// HookError is set when the run synced but the hook failed.
	HookError string `json:"hook_error,omitempty"`
	// Reruns is how many queued re-runs followed this one's first run in
	// the same call; the Result describes the last of them.
	Reruns int `json:"reruns,omitempty"`
}

// Progress is a snapshot of a running stage, for progress bars.
type Progress struct {
	// Stage is 1 or 2; Pass names the rsync pass ("content", "metadata",
	// "final").
	Stage int
	Pass  string
	// Items counts the entries rsync reported so far in this pass (created,
	// changed, deleted).
	Items int
	// Bytes is the file data transferred so far in this pass and Percent
	// rsync's estimate of the pass's completion (from --info=progress2,
	// only when a Progress callback is set).
	Bytes   int64
	Percent int
	// ToCheck and Total are rsync's "to-chk=ToCheck/Total".
	ToCheck, Total int
	// Last is the last item rsync reported.
	Last string
}

// Clock is the time source; tests pass a fake one so that backoffs and
// schedules run instantly.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx ends, and then returns ctx.Err().
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep waits for d or until ctx ends.
func (SystemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
