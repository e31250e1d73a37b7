package syncer_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/mirrorkit/mirrorkit/internal/syncer"
)

// childEnv carries a childSpec to a re-executed test binary: the agent in a
// process of its own, to be killed or to hold a lock another process sees.
const childEnv = "MIRRORKIT_SYNCER_TEST_CHILD"

type childSpec struct {
	Job  syncer.Job      `json:"job"`
	Opts childRunOptions `json:"opts"`
}

type childRunOptions struct {
	Force   bool   `json:"force"`
	Trigger string `json:"trigger"`
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(childMain(spec))
	}
	os.Exit(m.Run())
}

// childMain runs one sync and reports on stdout, one line each:
//
//	item STAGE ITEMIZE NAME   as rsync reports them
//	result JSON               the Result at the end
//
// and exits with the outcome's suggested exit code.
func childMain(specJSON string) int {
	var spec childSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	emit := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := syncer.New(spec.Job, syncer.Options{Logger: log, Version: "test-child"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	res, err := s.Run(context.Background(), syncer.RunOptions{
		Force:   spec.Opts.Force,
		Trigger: spec.Opts.Trigger,
		OnItem: func(stage int, it syncer.Item) {
			emit("item %d %s %s", stage, strings.ReplaceAll(it.Itemize, " ", "_"), it.Name)
		},
	})
	b, _ := json.Marshal(res)
	emit("result %s", b)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
	}
	return res.Outcome.ExitCode()
}

// child is a running agent process.
type child struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *strings.Builder
	done   chan struct{}
	result *syncer.Result
}

func startChild(t testing.TB, spec childSpec) *child {
	t.Helper()
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, lines: make(chan string, 4096), stderr: &strings.Builder{}, done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{w: c.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			l := sc.Text()
			if r, ok := strings.CutPrefix(l, "result "); ok {
				var res syncer.Result
				if json.Unmarshal([]byte(r), &res) == nil {
					c.result = &res
				}
			}
			c.lines <- l
		}
		io.Copy(io.Discard, stdout)
	}()
	return c
}

// wait waits for the child to exit (after its output is read) and returns
// its exit code (-1 when a signal killed it).
func (c *child) wait() int {
	for range c.lines {
	}
	_ = c.cmd.Wait()
	return c.cmd.ProcessState.ExitCode()
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
