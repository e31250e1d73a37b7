package syncer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Schedule is the daemon form of cron's "every few hours, after a random
// sleep": a run every Every, each delayed by a random time in [0, Jitter)
// so that a project's mirrors do not all hit the upstream at :00.
type Schedule struct {
	Every  time.Duration
	Jitter time.Duration
}

// Validate checks the schedule.
func (sc Schedule) Validate() error {
	if sc.Every <= 0 {
		return fmt.Errorf("schedule: every %v must be positive", sc.Every)
	}
	if sc.Jitter < 0 || sc.Jitter > sc.Every {
		return fmt.Errorf("schedule: jitter %v must be between 0 and every (%v)", sc.Jitter, sc.Every)
	}
	return nil
}

// Loop calls run at each slot until ctx ends, and returns ctx's error.
// Slots are Every apart starting now; each run starts at its slot plus a
// fresh random jitter. A run that overruns slots skips them (as cron
// would): the next run waits for the next slot, never a burst of missed ones.
func (sc Schedule) Loop(ctx context.Context, clock Clock, src rand.Source, run func(context.Context)) error {
	if err := sc.Validate(); err != nil {
		return err
	}
	rng := rand.New(src)
	slot := clock.Now()
	for {
		j := randomDelay(rng, sc.Jitter)
		if err := clock.Sleep(ctx, slot.Sub(clock.Now())+j); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		run(ctx)
		slot = slot.Add(sc.Every)
		if now := clock.Now(); now.After(slot) {
			// Overran: skip the slots that passed, like cron would.
			slot = slot.Add((now.Sub(slot)/sc.Every + 1) * sc.Every)
		}
	}
}

// RandomDelay draws a delay in [0, max) from src: the one-shot form's
// "sleep a random while first" (cron lines in the seeds use
// `sleep $((RANDOM % 1800))`), sharing the daemon's jitter.
func RandomDelay(src rand.Source, max time.Duration) time.Duration {
	return randomDelay(rand.New(src), max)
}

func randomDelay(rng *rand.Rand, max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return time.Duration(rng.Int64N(int64(max)))
}

// ErrUnknownJob: a trigger named a job the agent does not run.
var ErrUnknownJob = errors.New("unknown sync job")

// ErrNotServing: a trigger arrived before Serve started or after it ended.
var ErrNotServing = errors.New("sync agent is not serving")

// Triggerer starts a job's run on request (the push endpoint's view of an
// Agent).
type Triggerer interface {
	// Trigger starts a run of job in the background; queued reports that
	// one was in progress and will run once more.
	Trigger(job string, o RunOptions) (queued bool, err error)
}

// AgentOptions configure an Agent.
type AgentOptions struct {
	Logger *slog.Logger
	Clock  Clock
	// Rand seeds each job's jitter; nil uses a random seed.
	Rand func() rand.Source
	// OnResult, when set, sees the result of every run the agent starts
	// (for metrics); it must be quick and safe for concurrent use.
	OnResult func(Result)
}

// Agent is the daemon: it runs several jobs on their schedules and on
// push triggers, in one process.
type Agent struct {
	log      *slog.Logger
	clock    Clock
	rand     func() rand.Source
	onResult func(Result)

	mu      sync.Mutex
	jobs    map[string]*agentJob
	order   []string
	ctx     context.Context // set while serving
	serving bool
	wg      sync.WaitGroup
}

type agentJob struct {
	s     *Syncer
	sched *Schedule
}

// NewAgent returns an agent with no jobs.
func NewAgent(o AgentOptions) *Agent {
	a := &Agent{log: o.Logger, clock: o.Clock, rand: o.Rand, onResult: o.OnResult, jobs: map[string]*agentJob{}}
	if a.onResult == nil {
		a.onResult = func(Result) {}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.clock == nil {
		a.clock = SystemClock{}
	}
	if a.rand == nil {
		a.rand = func() rand.Source { return rand.NewPCG(rand.Uint64(), rand.Uint64()) }
	}
	return a
}

// Add registers a job; sched nil means push triggers only.
func (a *Agent) Add(s *Syncer, sched *Schedule) error {
	if sched != nil {
		if err := sched.Validate(); err != nil {
			return fmt.Errorf("job %s: %w", s.Name(), err)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.serving {
		return errors.New("sync agent: add a job before Serve")
	}
	if _, dup := a.jobs[s.Name()]; dup {
		return fmt.Errorf("sync agent: job %q added twice", s.Name())
	}
	a.jobs[s.Name()] = &agentJob{s: s, sched: sched}
	a.order = append(a.order, s.Name())
	return nil
}

// Jobs lists the job names in the order they were added.
func (a *Agent) Jobs() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.order...)
}

// Serve runs the scheduled jobs until ctx ends, then waits for every run it
// started (scheduled or triggered) to stop, and returns nil.
func (a *Agent) Serve(ctx context.Context) error {
	a.mu.Lock()
	if a.serving {
		a.mu.Unlock()
		return errors.New("sync agent: Serve called twice")
	}
	a.serving, a.ctx = true, ctx
	jobs := make([]*agentJob, 0, len(a.order))
	for _, n := range a.order {
		jobs = append(jobs, a.jobs[n])
	}
	a.mu.Unlock()

	for _, j := range jobs {
		if j.sched == nil {
			continue
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			_ = j.sched.Loop(ctx, a.clock, a.rand(), func(ctx context.Context) {
				// The Syncer logs the outcome; a failed run waits for
				// the next slot like cron would.
				res, _ := j.s.Run(ctx, RunOptions{Trigger: "every"})
				a.onResult(res)
			})
		}()
	}
	<-ctx.Done()
	a.mu.Lock()
	a.serving = false
	a.mu.Unlock()
	a.wg.Wait()
	return nil
}

// Trigger starts a run of job now, or queues one after the run in progress.
func (a *Agent) Trigger(job string, o RunOptions) (bool, error) {
	a.mu.Lock()
	j, ok := a.jobs[job]
	serving, ctx := a.serving, a.ctx
	if ok && serving {
		a.wg.Add(1)
	}
	a.mu.Unlock()
	if !ok {
		return false, fmt.Errorf("%w %q", ErrUnknownJob, job)
	}
	if !serving {
		return false, ErrNotServing
	}
	if o.Trigger == "" {
		o.Trigger = "push"
	}
	h, err := j.s.Start(ctx, o)
	if err != nil {
		a.wg.Done()
		return false, err
	}
	go func() {
		defer a.wg.Done()
		res, _ := h.Wait()
		a.onResult(res)
	}()
	return h.Queued(), nil
}
