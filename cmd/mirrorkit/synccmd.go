package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/mirrorkit/mirrorkit/internal/buildinfo"
	"github.com/mirrorkit/mirrorkit/internal/config"
	"github.com/mirrorkit/mirrorkit/internal/syncer"
)

// syncFlags are the one-job form's flags and the run options.
type syncFlags struct {
	job                              config.SyncJob // the one-job form
	timeout, contimeout, hookTimeout time.Duration
	name, stateDir, rsync            string
	force, dryRun, daemon, asJSON    bool
	maxDelete                        float64
	every, jitter                    time.Duration
	pushListen, pushTokenFile        string
}

func (a *app) syncCommand() *cobra.Command {
	var f syncFlags
	cmd := &cobra.Command{
		Use:   "sync [JOB...] | --upstream URL --dest DIR",
		Short: "Keep this mirror current from its upstream with the real rsync, in two stages",
		Long: `Pull an upstream into a local tree with the real rsync, safely:

  stage 1  new content, no repository metadata, nothing deleted;
  stage 2  the metadata (top indexes last), then deletions.

At no moment does the tree show an index that names files not yet there. A run
is skipped at once when the upstream's trace file has not changed since the last
successful one (--force syncs anyway), refuses to delete more than max_delete of
the tree, holds a lock per job (a request during a run queues exactly one more),
retries transient rsync failures, and writes a trace file at the tree's root.

Jobs come from the [sync.jobs.NAME] tables of the config (all of them when none
is named), or one job from --upstream and --dest. With --every (or --daemon, which
uses each job's own every/jitter) it keeps running, and with sync.push_listen it
accepts POST /sync/JOB from the upstream. Exit codes: 0 synced or unchanged,
1 failed, 3 bad configuration, 6 refused by the max-delete guard, 130 cancelled.`,
		Example: `  mirrorkit sync --upstream rsync://rsync.example.org/fedora/ --dest /srv/pub/fedora --lastupdate lastupdate
  mirrorkit sync fedora epel
  mirrorkit sync --every 4h --jitter 30m`,
		RunE: func(cmd *cobra.Command, args []string) error {
			f.daemon = f.daemon || f.every > 0
			jobs, scheds, err := a.syncJobs(cmd, &f, args)
			if err != nil {
				return err
			}
			if f.daemon {
				return a.syncDaemon(cmd.Context(), &f, jobs, scheds)
			}
			return a.syncOnce(cmd.Context(), &f, jobs)
		},
	}
	fl := cmd.Flags()
	j := &f.job
	fl.StringVar(&j.Upstream, "upstream", "", "one job: the upstream, rsync://HOST[:PORT]/MODULE/PATH or HOST::MODULE/PATH")
	fl.StringVar(&j.Dest, "dest", "", "one job: the local tree")
	fl.StringVar(&j.UpstreamTrace, "lastupdate", "", "one job: the upstream file whose change means there is something to sync (path under the upstream, or an rsync/http(s) URL)")
	fl.StringVar(&f.name, "name", "default", "one job: its name, for state, logs and the trace file")
	fl.StringArrayVar(&j.Include, "include", nil, "one job: rsync include pattern (repeatable; tried before excludes)")
	fl.StringArrayVar(&j.Exclude, "exclude", nil, "one job: rsync exclude pattern (repeatable)")
	fl.StringArrayVar(&j.IncludeFrom, "include-from", nil, "one job: file of include patterns (repeatable)")
	fl.StringArrayVar(&j.ExcludeFrom, "exclude-from", nil, "one job: file of exclude patterns (repeatable)")
	fl.StringArrayVar(&j.Subtrees, "subtree", nil, "one job: copy only this directory of the upstream (repeatable: a partial mirror)")
	fl.IntVar(&j.BandwidthLimit, "bwlimit", 0, "one job: bandwidth limit in KiB/s")
	fl.StringVar(&j.PasswordFile, "password-file", "", "one job: file whose first line is the daemon password (mode 0600)")
	fl.DurationVar(&f.timeout, "timeout", 0, "one job: rsync --timeout (default 10m)")
	fl.DurationVar(&f.contimeout, "contimeout", 0, "one job: rsync --contimeout (default 1m)")
	fl.StringArrayVar(&j.Metadata, "metadata", nil, "one job: metadata pattern held back to stage 2 (repeatable; replaces the defaults)")
	fl.StringArrayVar(&j.MetadataLast, "metadata-last", nil, "one job: top index copied after all other metadata (repeatable; replaces the defaults)")
	fl.StringVar(&j.TraceName, "trace-name", "", "one job: this mirror's trace file name (default: the job name)")
	fl.StringVar(&j.TraceDir, "trace-dir", "", "one job: where traces live, relative to --dest (default project/trace)")
	fl.StringVar(&j.InProgressFile, "in-progress-file", "", "one job: a file present at the tree's root while a run changes it")
	fl.StringArrayVar(&j.Hook, "hook", nil, "one job: command run after a successful sync; repeat for each argument")
	fl.DurationVar(&f.hookTimeout, "hook-timeout", 0, "one job: how long the hook may run (default 5m)")
	fl.IntVar(&j.Retries, "retries", 0, "one job: tries in all on transient rsync failures (default 3)")
	fl.StringVar(&f.stateDir, "state-dir", "", "where locks, status and traces are kept (config sync.state_dir)")
	fl.StringVar(&f.rsync, "rsync", "", "the rsync binary (config sync.rsync; default rsync on PATH)")
	fl.BoolVar(&f.force, "force", false, "sync even when the upstream trace is unchanged")
	fl.BoolVar(&f.dryRun, "dry-run", false, "show what would change; change nothing")
	fl.Float64Var(&f.maxDelete, "max-delete", 0, "for this run, the largest share of the tree that may be deleted (0.5 = 50%)")
	fl.DurationVar(&f.every, "every", 0, "keep running: sync every interval (implies --daemon)")
	fl.DurationVar(&f.jitter, "jitter", 0, "wait up to this long at random first (with --every: before every run)")
	fl.BoolVar(&f.daemon, "daemon", false, "keep running, each job on its own every/jitter, pushes on sync.push_listen")
	fl.StringVar(&f.pushListen, "push-listen", "", "daemon: accept POST /sync/JOB here (config sync.push_listen)")
	fl.StringVar(&f.pushTokenFile, "push-token-file", "", "daemon: the bearer token file for pushes (config sync.push_token_file)")
	fl.BoolVar(&f.asJSON, "json", false, "print each run's result as JSON")
	cmd.AddCommand(a.syncStatus())
	return cmd
}

// syncJobs builds the syncers the command line asks for, with each job's
// schedule.
func (a *app) syncJobs(cmd *cobra.Command, f *syncFlags, args []string) ([]*syncer.Syncer, []*syncer.Schedule, error) {
	sc := a.cfg.Sync
	if f.stateDir != "" {
		sc.StateDir = f.stateDir
	}
	if f.rsync != "" {
		sc.Rsync = f.rsync
	}
	type named struct {
		name string
		job  config.SyncJob
	}
	var want []named
	switch {
	case f.job.Upstream != "" || f.job.Dest != "":
		if len(args) > 0 {
			return nil, nil, usagef("name jobs from the config or give --upstream and --dest, not both")
		}
		j := f.job
		j.Timeout, j.ConnectTimeout, j.HookTimeout = config.Duration(f.timeout), config.Duration(f.contimeout), config.Duration(f.hookTimeout)
		want = append(want, named{f.name, j})
	case len(args) > 0:
		for _, n := range args {
			j, ok := sc.Jobs[n]
			if !ok {
				return nil, nil, codedError{exitNotFound, fmt.Errorf("no sync job %q in the config (jobs: %s)", n, strings.Join(jobNames(sc), ", "))}
			}
			want = append(want, named{n, j})
		}
	default:
		for _, n := range jobNames(sc) {
			want = append(want, named{n, sc.Jobs[n]})
		}
		if len(want) == 0 {
			return nil, nil, usagef("no sync jobs: add [sync.jobs.NAME] tables to the config, or give --upstream and --dest")
		}
	}
	var out []*syncer.Syncer
	var scheds []*syncer.Schedule
	for _, w := range want {
		job := sc.Job(w.name, w.job)
		s, err := syncer.New(job, syncer.Options{Logger: a.log, Version: buildinfo.Get().Version})
		if err != nil {
			var ve *syncer.ValidationError
			if errors.As(err, &ve) {
				return nil, nil, codedError{exitConfig, err}
			}
			return nil, nil, err
		}
		out = append(out, s)
		sched := &syncer.Schedule{Every: time.Duration(w.job.Every), Jitter: time.Duration(w.job.Jitter)}
		if f.every > 0 {
			sched = &syncer.Schedule{Every: f.every, Jitter: f.jitter}
		}
		scheds = append(scheds, sched)
	}
	return out, scheds, nil
}

func jobNames(sc config.Sync) []string {
	var names []string
	for n := range sc.Jobs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// syncOnce runs each job once, in order, and exits with the worst outcome.
func (a *app) syncOnce(ctx context.Context, f *syncFlags, jobs []*syncer.Syncer) error {
	if f.jitter > 0 {
		d := syncer.RandomDelay(rand.NewPCG(rand.Uint64(), rand.Uint64()), f.jitter)
		a.log.Info("waiting a random delay first", "delay", d.Round(time.Second))
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return codedError{130, ctx.Err()}
		}
	}
	worst, worstErr := 0, error(nil)
	for _, s := range jobs {
		res, err := s.Run(ctx, a.runOptions(f, s.Name()))
		if perr := a.printResult(f.asJSON, res); perr != nil {
			return perr
		}
		code := res.Outcome.ExitCode()
		if err != nil {
			code = max(code, exitFailure)
		}
		if code > worst {
			if err == nil {
				err = fmt.Errorf("sync %s: %s", s.Name(), res.Outcome)
			}
			worst, worstErr = code, err
		}
	}
	if worst == 0 {
		return nil
	}
	return codedError{worst, worstErr}
}

func (a *app) runOptions(f *syncFlags, name string) syncer.RunOptions {
	o := syncer.RunOptions{Force: f.force, DryRun: f.dryRun, MaxDeleteShare: f.maxDelete, Trigger: "manual"}
	if _, tty := a.terminal(); !tty {
		o.Trigger = "cron" // systemd timers and cron have no terminal
	}
	if bar := a.progressBar(100, "sync "+name, false); bar != nil {
		stage := 0
		o.Progress = func(p syncer.Progress) {
			if p.Stage != stage {
				stage = p.Stage
				bar.Describe(fmt.Sprintf("sync %s: stage %d (%s)", name, p.Stage, p.Pass))
			}
			_ = bar.Set(p.Percent)
		}
	}
	return o
}

// printResult prints a run's summary, or its JSON.
func (a *app) printResult(asJSON bool, r syncer.Result) error {
	if asJSON {
		return a.printJSON(r)
	}
	line := fmt.Sprintf("%s: %s", r.Job, r.Outcome)
	switch r.Outcome {
	case syncer.OutcomeSynced, syncer.OutcomeDryRun:
		line += fmt.Sprintf(" — %d added, %d changed, %d deleted, %s received in %s", r.Added, r.Changed, r.Deleted,
			humanize.IBytes(uint64(max(r.BytesReceived, 0))), r.Duration.Round(time.Millisecond))
	case syncer.OutcomeUnchanged:
		line += " — the upstream trace is unchanged (--force syncs anyway)"
	case syncer.OutcomeRefused:
		line += fmt.Sprintf(" — %d of %d entries would go; nothing was deleted (--max-delete lets one run pass)", r.PendingDeletes, r.TreeSize)
	}
	if r.Error != "" {
		line += "\n  " + r.Error
	}
	if r.RsyncExit != 0 {
		line += fmt.Sprintf("\n  rsync exit %d (%s): %s", r.RsyncExit, r.RsyncMeaning, r.RsyncError)
	}
	if r.HookError != "" {
		line += "\n  hook: " + r.HookError
	}
	_, err := fmt.Fprintln(a.stdout, line)
	return err
}

// syncDaemon runs the jobs on their schedules, and pushes, until ctx ends.
func (a *app) syncDaemon(ctx context.Context, f *syncFlags, jobs []*syncer.Syncer, scheds []*syncer.Schedule) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	agent := syncer.NewAgent(syncer.AgentOptions{Logger: a.log, OnResult: syncMetrics(reg)})
	for i, s := range jobs {
		sched := scheds[i]
		if sched.Every <= 0 {
			sched = nil // pushes only
		}
		if err := agent.Add(s, sched); err != nil {
			return err
		}
	}
	listen, tokenFile := a.cfg.Sync.PushListen, a.cfg.Sync.PushTokenFile
	if f.pushListen != "" {
		listen = f.pushListen
	}
	if f.pushTokenFile != "" {
		tokenFile = f.pushTokenFile
	}
	if listen != "" {
		if tokenFile == "" {
			return codedError{exitConfig, errors.New("pushes need a token: set sync.push_token_file or --push-token-file")}
		}
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return fmt.Errorf("push token: %w", err)
		}
		h, err := syncer.NewPushHandler(agent, strings.TrimSpace(string(b)), a.log)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return err
		}
		hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: time.Minute}
		go func() { _ = hs.Serve(ln) }()
		defer hs.Close()
		a.log.Info("accepting sync pushes", "addr", ln.Addr().String())
	}
	if l := a.cfg.Sync.MetricsListen; l != "" {
		stop, err := a.serveMetrics(ctx, l, reg)
		if err != nil {
			return err
		}
		defer stop()
	}
	a.log.Info("sync agent running", "jobs", agent.Jobs())
	if err := agent.Serve(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func (a *app) syncStatus() *cobra.Command {
	var asJSON bool
	var stateDir string
	cmd := &cobra.Command{
		Use:   "status [JOB...]",
		Short: "Show each sync job's last run, outcome, upstream trace, and whether one runs now",
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := a.cfg.Sync.StateDir
			if stateDir != "" {
				dir = stateDir
			}
			names := args
			if len(names) == 0 {
				names = jobNames(a.cfg.Sync)
			}
			var all []syncer.Status
			for _, n := range names {
				st, err := syncer.ReadStatus(dir, n)
				if err != nil {
					return err
				}
				if st.Last == nil && !st.Running && len(args) > 0 {
					if _, configured := a.cfg.Sync.Jobs[n]; !configured {
						return codedError{exitNotFound, fmt.Errorf("sync job %q has never run and is not in the config", n)}
					}
				}
				all = append(all, st)
			}
			if asJSON {
				return a.printJSON(all)
			}
			rows := [][]string{}
			for _, st := range all {
				last, outcome, trace := "never", "-", "-"
				if st.Last != nil {
					last = humanize.Time(st.Last.Finished)
					outcome = string(st.Last.Outcome)
				}
				if st.UpstreamTrace != "" {
					trace = strings.SplitN(strings.TrimSpace(st.UpstreamTrace), "\n", 2)[0]
				}
				state := "idle"
				switch {
				case st.Running && st.RerunQueued:
					state = "running, one more queued"
				case st.Running:
					state = "running"
				case st.Unclean:
					state = "unclean (next run cleans up)"
				}
				rows = append(rows, []string{st.Job, state, outcome, last, trace})
			}
			return a.table([]string{"job", "state", "last outcome", "last run", "upstream trace"}, rows)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "where the jobs' state is (config sync.state_dir)")
	return cmd
}

// syncMetrics registers the sync agent's metrics and returns the function
// that records each run.
func syncMetrics(reg prometheus.Registerer) func(syncer.Result) {
	runs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mirrorkit_sync_runs_total", Help: "Sync runs by job and outcome.",
	}, []string{"job", "outcome"})
	lastSuccess := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mirrorkit_sync_last_success_timestamp_seconds", Help: "When the job last synced or found the upstream unchanged.",
	}, []string{"job"})
	duration := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mirrorkit_sync_last_duration_seconds", Help: "How long the job's last run took.",
	}, []string{"job"})
	received := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mirrorkit_sync_received_bytes_total", Help: "File data received from the upstream.",
	}, []string{"job"})
	reg.MustRegister(runs, lastSuccess, duration, received)
	return func(r syncer.Result) {
		runs.WithLabelValues(r.Job, string(r.Outcome)).Inc()
		if r.Outcome == syncer.OutcomeQueued {
			return
		}
		duration.WithLabelValues(r.Job).Set(r.Duration.Seconds())
		received.WithLabelValues(r.Job).Add(float64(max(r.BytesReceived, 0)))
		if r.Outcome == syncer.OutcomeSynced || r.Outcome == syncer.OutcomeUnchanged {
			lastSuccess.WithLabelValues(r.Job).Set(float64(r.Finished.Unix()))
		}
	}
}
