package release

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestScheduledFlipRunsWhenDue(t *testing.T) {
	root := t.TempDir()
	build(t, root, []entry{
		{"releases", fs.ModeDir | 0o755, ""},
		{"releases/42", fs.ModeDir | 0o750, ""},
		{"releases/42/Everything", fs.ModeDir | 0o750, ""},
		{"releases/42/Everything/x.rpm", 0o640, ""},
		{"releases/43", fs.ModeDir | 0o750, ""},
	})
	clock := &fakeClock{time.Date(2026, 5, 13, 12, 0, 0, 0, time.UTC)}
	s := &Scheduler{Root: root, StateDir: filepath.Join(t.TempDir(), "state"), Now: clock.now}
	release := clock.t.Add(2*time.Hour + 45*time.Minute)

	if _, err := s.Schedule("releases/42", clock.t.Add(-time.Minute)); err == nil {
		t.Fatal("scheduled a flip in the past")
	}
	if _, err := s.Schedule("releases/nope", release); err == nil {
		t.Fatal("scheduled a flip of a missing path")
	}
	if _, err := s.Schedule("../x", release); err == nil {
		t.Fatal("scheduled a flip outside the tree")
	}
	// The child first, the parent at the same time, the child again (a
	// reschedule replaces), another release later.
	for _, p := range []string{"releases/42/Everything", "releases/42"} {
		if _, err := s.Schedule(p, release.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	sc, err := s.Schedule(filepath.Join(root, "releases/42/Everything"), release)
	if err != nil || sc.Path != "releases/42/Everything" || !sc.At.Equal(release) || !sc.Created.Equal(clock.t) {
		t.Fatalf("reschedule: %+v %v", sc, err)
	}
	if _, err := s.Schedule("releases/43", release.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	list, err := s.List()
	if err != nil || len(list) != 3 || list[0].Path != "releases/42/Everything" {
		t.Fatalf("list: %+v %v", list, err)
	}

	// Not yet due: nothing runs.
	if res, err := s.RunDue(context.Background()); err != nil || len(res) != 0 {
		t.Fatalf("RunDue before time: %+v %v", res, err)
	}
	if modeOf(t, filepath.Join(root, "releases/42")) != fs.ModeDir|0o750 {
		t.Fatal("flipped before its time")
	}

	// Both flips of release 42 are due: the parent runs first.
	clock.t = release.Add(time.Hour)
	due, err := s.Due(clock.t)
	if err != nil || len(due) != 2 || due[0].Path != "releases/42" {
		t.Fatalf("due: %+v %v", due, err)
	}
	res, err := s.RunDue(context.Background())
	if err != nil || len(res) != 2 {
		t.Fatalf("RunDue: %+v %v", res, err)
	}
	if res[0].Summary.Changed != 3 || res[1].Summary.Changed != 0 {
		t.Fatalf("parent then child: %+v", res)
	}
	for _, p := range []string{"releases/42", "releases/42/Everything", "releases/42/Everything/x.rpm"} {
		if m := modeOf(t, filepath.Join(root, p)); !Public(m) {
			t.Fatalf("%s is %v after its flip", p, m)
		}
	}
	if list, _ := s.List(); len(list) != 1 || list[0].Path != "releases/43" {
		t.Fatalf("left scheduled: %+v", list)
	}

	// Cancel.
	if _, err := s.Cancel("releases/42"); !errors.Is(err, ErrNotScheduled) {
		t.Fatalf("cancel a done flip: %v", err)
	}
	if c, err := s.Cancel("releases/43"); err != nil || c.Path != "releases/43" {
		t.Fatalf("cancel: %+v %v", c, err)
	}
	clock.t = clock.t.Add(48 * time.Hour)
	if res, err := s.RunDue(context.Background()); err != nil || len(res) != 0 {
		t.Fatalf("a cancelled flip ran: %+v %v", res, err)
	}
	if modeOf(t, filepath.Join(root, "releases/43")) != fs.ModeDir|0o750 {
		t.Fatal("a cancelled flip ran")
	}
}

func TestScheduledFlipFailureStays(t *testing.T) {
	root := t.TempDir()
	build(t, root, []entry{{"gone", fs.ModeDir | 0o750, ""}})
	clock := &fakeClock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := &Scheduler{Root: root, StateDir: t.TempDir(), Now: clock.now}
	if _, err := s.Schedule("gone", clock.t.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(root, "gone")); err != nil {
		t.Fatal(err)
	}
	clock.t = clock.t.Add(time.Hour)
	res, err := s.RunDue(context.Background())
	if err == nil || len(res) != 1 || res[0].Err == nil {
		t.Fatalf("RunDue of a missing path: %+v %v", res, err)
	}
	list, _ := s.List()
	if len(list) != 1 || list[0].Attempts != 1 || !strings.Contains(list[0].LastError, "gone") {
		t.Fatalf("a failed flip must stay with its error: %+v", list)
	}

	// The state file is JSON, written whole, with no temporary files left.
	b, err := os.ReadFile(filepath.Join(s.StateDir, stateName))
	if err != nil {
		t.Fatal(err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil || st.Version != 1 || len(st.Flips) != 1 {
		t.Fatalf("state file %s: %v", b, err)
	}
	entries, _ := os.ReadDir(s.StateDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Fatalf("temporary file left: %s", e.Name())
		}
	}
	if err := os.WriteFile(filepath.Join(s.StateDir, stateName), []byte("{"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(); err == nil {
		t.Fatal("a corrupt state file was accepted")
	}
	if _, err := s.Schedule(".", clock.t.Add(time.Hour)); err == nil {
		t.Fatal("a corrupt state file was overwritten")
	}
}

func TestRunLoop(t *testing.T) {
	root := t.TempDir()
	build(t, root, []entry{{"r", fs.ModeDir | 0o750, ""}})
	start := time.Now()
	s := &Scheduler{Root: root, StateDir: t.TempDir()}
	if _, err := s.Schedule("r", start.Add(50*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, 10*time.Millisecond) }()
	deadline := time.Now().Add(10 * time.Second)
	for !Public(modeOf(t, filepath.Join(root, "r"))) {
		if time.Now().After(deadline) {
			t.Fatal("Run never flipped a due path")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Fatal("flipped before its time")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestStatus(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	if err := os.Chmod(outside, 0o750); err != nil {
		t.Fatal(err)
	}
	build(t, root, []entry{
		{"pub", fs.ModeDir | 0o755, ""},
		{"pub/releases", fs.ModeDir | 0o755, ""},
		{"pub/releases/41", fs.ModeDir | 0o755, ""},
		{"pub/releases/42", fs.ModeDir | 0o750, ""},
		{"pub/releases/42/inner", fs.ModeDir | 0o700, ""},
		{"pub/updates", fs.ModeDir | 0o755, ""},
		{"pub/updates/testing", fs.ModeDir | 0o751, ""},
		{"pub/updates/file", 0o640, ""},
		{"pub/link", fs.ModeSymlink, outside},
	})
	clock := &fakeClock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	stateDir := t.TempDir()
	s := &Scheduler{Root: root, StateDir: stateDir, Now: clock.now}
	at := clock.t.Add(time.Hour)
	if _, err := s.Schedule("pub/releases/42", at); err != nil {
		t.Fatal(err)
	}
	rep, err := Status(context.Background(), root, stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Staged) != 2 ||
		rep.Staged[0].Path != "pub/releases/42" || rep.Staged[0].Mode != fs.ModeDir|0o750 || !rep.Staged[0].At.Equal(at) ||
		rep.Staged[1].Path != "pub/updates/testing" || !rep.Staged[1].At.IsZero() {
		t.Fatalf("staged: %+v", rep.Staged)
	}
	if len(rep.Scheduled) != 1 || rep.Scheduled[0].Path != "pub/releases/42" {
		t.Fatalf("scheduled: %+v", rep.Scheduled)
	}
	if rep, err := Status(context.Background(), root, ""); err != nil || len(rep.Scheduled) != 0 || len(rep.Staged) != 2 {
		t.Fatalf("without a state dir: %+v %v", rep, err)
	}
}
