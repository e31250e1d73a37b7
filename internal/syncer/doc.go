// Package syncer is the mirror sync agent: it keeps a local tree an exact,
// never half-updated copy of an upstream rsync daemon, by running the real
// rsync (see internal/rsync) the way careful mirror operators do by hand.
//
// # Why two stages
//
// A package repository is content (packages) plus metadata (indexes that
// list packages by name, size and hash). A single rsync run renames files
// into place in file-list order, so for a moment the served tree can hold a
// new index that names packages not yet copied, and clients fail with 404s
// or hash mismatches. Debian's ftpsync solved this with two stages, and so
// does the agent, for any distribution:
//
//   - stage 1 copies everything except metadata and deletes nothing;
//   - stage 2 copies the metadata, then deletes what the upstream removed.
//
// Stage 2 is itself two rsync passes when the job has "last" indexes
// (InRelease/Release, repomd.xml): those sign or list other index files by
// hash, so they are renamed only after every other index file is in place.
// Deletions come last of all (--delete-after runs after --delay-updates'
// renames), so an old index never names a file already deleted. The
// upstream's own trace files travel with the last indexes: a downstream
// mirror that reads our copy of them must not believe our tree current
// before its metadata is.
//
// # Why the guard counts in stage 1
//
// An upstream that suddenly looks empty (a failed mount, a wrong module)
// must not wipe the mirror. Stage 1 runs with --delete-after --max-delete=0,
// which makes rsync delete nothing and report how many deletions it held
// back; after stage 1 the tree is the upstream's non-metadata entries plus
// exactly those, so the share to be deleted is known before anything is
// deleted, at no cost of an extra listing. A share above the job's limit
// refuses the run (metadata untouched, nothing deleted). The final pass
// carries rsync's own --max-delete as a backstop in case the upstream
// changes between the stages.
//
// # Why locks and flags in files
//
// One run per job, across goroutines and processes (cron, a daemon and an
// operator's shell may all ask at once): a flock(2) on a file in the job's
// state directory, which the kernel releases when the holder dies, so a
// crash never leaves a stale lock. A request that finds the lock taken is
// not lost: it leaves a re-run flag, and the holder runs once more. After a
// crash the next run, holding the lock, kills the rsync the dead agent left
// running (rsync runs in a session of its own), removes rsync's .~tmp~
// directories and a stale in-progress file, and never skips as unchanged.
//
// # Why a trace check first
//
// Most runs find nothing new. Comparing the upstream's trace (one small
// file, over rsync or HTTP) with the one saved after the last successful
// sync ends such a run after one round trip, instead of a file-list
// transfer of the whole tree (Parabola measured ~18 MiB per no-op rsync).
//
// # Retries
//
// Network failures and timeouts (rsync exit codes 10, 12, 30, 35, a busy
// daemon's 5) are retried with exponential backoff, always from stage 1 so
// that content the upstream added meanwhile arrives before its metadata.
// Partial transfers and vanished files (23, 24) mean the upstream was
// mid-update and are retried too, but only while the failing pass has
// deleted nothing: a 23 during deletions is a local problem that a retry
// would repeat. A 24 in stage 1 or after stage 2's deletions is accepted
// (the next stage or run lists afresh). Everything else fails at once, and
// every failure is logged with rsync's exit code, its meaning and rsync's
// own last error line.
//
// The CLI (`mirrorkit sync`) builds a Job from flags or the config file,
// calls Syncer.Run for the one-shot form, Agent.Serve with Schedules for
// --every, NewPushHandler for push triggers, and ReadStatus for
// `sync status`; Outcome.ExitCode gives its exit code. docs/sync.md
// documents the behaviour for operators.
package syncer
