//go:build unix

package rsync_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/rsync"
	"github.com/mirrorkit/mirrorkit/internal/testutil"
	"github.com/mirrorkit/mirrorkit/internal/testutil/rsyncd"
)

var mtime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func smallTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "caf\xe9.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(root, "caf\xe9.txt"), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return root
}

// bigTree has enough entries that a bandwidth-limited daemon takes many
// seconds to list it.
func bigTree(t *testing.T, dirs, files int) string {
	t.Helper()
	root := t.TempDir()
	for d := range dirs {
		dir := filepath.Join(root, fmt.Sprintf("dir-%03d", d))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := range files {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file-with-a-longish-name-%05d.rpm", f)), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

func listAll(r io.Reader) ([]rsync.ListEntry, error) {
	var out []rsync.ListEntry
	lr := rsync.NewListReader(r)
	for {
		e, err := lr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
}

func TestRunListsInUTC(t *testing.T) {
	bin := testutil.RequireTool(t, "rsync")
	d := rsyncd.Start(t, rsyncd.Module{Name: "mod", Path: smallTree(t)})
	// rsync prints local time; Run must override whatever zone we run in.
	t.Setenv("TZ", "America/New_York")
	var got []rsync.ListEntry
	err := rsync.Run(context.Background(), rsync.Cmd{
		Path:   bin,
		Args:   []string{"-rl", "--list-only", "--no-motd", "--no-h", d.URL("mod")},
		Stdout: func(r io.Reader) (err error) { got, err = listAll(r); return err },
	})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, d.Log())
	}
	if len(got) != 2 || got[0].Path != "." || got[1].Path != "caf\xe9.txt" {
		t.Fatalf("listing = %+v", got)
	}
	if f := got[1]; !f.ModTime.Equal(mtime) || f.Size != 5 || f.Mode != 0o644 {
		t.Fatalf("file entry = %+v, want mtime %v size 5 mode 0644", f, mtime)
	}
}

func TestRunExitError(t *testing.T) {
	bin := testutil.RequireTool(t, "rsync")
	d := rsyncd.Start(t, rsyncd.Module{Name: "mod", Path: smallTree(t)})
	err := rsync.Run(context.Background(), rsync.Cmd{Path: bin, Args: []string{"--list-only", "--no-motd", d.URL("nomod")}})
	var ee *rsync.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("err = %v, want *ExitError", err)
	}
	if ee.Code != rsync.ExitStartClient || ee.LastLine != "@ERROR: Unknown module 'nomod'" || ee.Transient() {
		t.Fatalf("ExitError = %+v", ee)
	}
	if msg := ee.Error(); !strings.Contains(msg, "code 5") || !strings.Contains(msg, "Unknown module") {
		t.Fatalf("message %q lacks the code or rsync's words", msg)
	}
}

func TestRunPasswordOnlyFromEnv(t *testing.T) {
	bin := testutil.RequireTool(t, "rsync")
	d := rsyncd.Start(t, rsyncd.Module{Name: "sec", Path: smallTree(t), AuthUser: "mirror", Password: "s3cret"})
	url := strings.Replace(d.URL("sec"), "rsync://", "rsync://mirror@", 1)
	args := []string{"--list-only", "--no-motd", url}
	if err := rsync.Run(context.Background(), rsync.Cmd{Path: bin, Args: args, Env: []string{"RSYNC_PASSWORD=s3cret"}}); err != nil {
		t.Fatalf("with the password: %v", err)
	}
	// A password in our own environment is not passed on: it must be
	// given for the run. Without one rsync must fail rather than prompt.
	t.Setenv("RSYNC_PASSWORD", "s3cret")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := rsync.Run(ctx, rsync.Cmd{Path: bin, Args: args})
	var ee *rsync.ExitError
	if !errors.As(err, &ee) || !ee.Mentions("auth failed") {
		t.Fatalf("without the password: err = %v, want an auth failure", err)
	}
}

// gone waits until no process is left in the group pid led.
func gone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		errLeader := syscall.Kill(pid, 0)
		errGroup := syscall.Kill(-pid, 0)
		if errors.Is(errLeader, syscall.ESRCH) && errors.Is(errGroup, syscall.ESRCH) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsync %d still has processes: kill -0 %d: %v, kill -0 -%d: %v", pid, pid, errLeader, pid, errGroup)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunCancelKillsRsync(t *testing.T) {
	bin := testutil.RequireTool(t, "rsync")
	// 1 KiB/s for a listing of ~80 KiB: the listing takes over a minute,
	// so it is certainly running when we cancel.
	d := rsyncd.StartConfig(t, rsyncd.Config{BWLimit: 1, Modules: []rsyncd.Module{{Name: "big", Path: bigTree(t, 10, 100)}}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pid := 0
	var cancelled time.Time
	err := rsync.Run(ctx, rsync.Cmd{
		Path:    bin,
		Args:    []string{"-rl", "--list-only", "--no-motd", "--no-h", d.URL("big")},
		Started: func(p int) { pid = p },
		Stdout: func(r io.Reader) error {
			lr := rsync.NewListReader(r)
			if _, err := lr.Next(); err != nil {
				return err
			}
			cancelled = time.Now()
			cancel()
			_, err := io.Copy(io.Discard, r)
			return err
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if took := time.Since(cancelled); took > 5*time.Second {
		t.Errorf("Run returned %v after cancellation", took)
	}
	if pid == 0 {
		t.Fatal("Started was not called")
	}
	gone(t, pid)
}

func TestRunConsumerErrorKillsRsync(t *testing.T) {
	bin := testutil.RequireTool(t, "rsync")
	d := rsyncd.StartConfig(t, rsyncd.Config{BWLimit: 1, Modules: []rsyncd.Module{{Name: "big", Path: bigTree(t, 10, 100)}}})
	stop := errors.New("consumer gives up")
	pid := 0
	start := time.Now()
	err := rsync.Run(context.Background(), rsync.Cmd{
		Path:    bin,
		Args:    []string{"-rl", "--list-only", "--no-motd", "--no-h", d.URL("big")},
		Started: func(p int) { pid = p },
		Stdout:  func(io.Reader) error { return stop },
	})
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v, want the consumer's error", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Run took %v; rsync was not killed", took)
	}
	gone(t, pid)
}

func TestRunMissingBinary(t *testing.T) {
	err := rsync.Run(context.Background(), rsync.Cmd{Path: filepath.Join(t.TempDir(), "no-rsync")})
	if err == nil || !strings.Contains(err.Error(), "no-rsync") {
		t.Fatalf("err = %v, want a start error naming the binary", err)
	}
}

func TestRunNice(t *testing.T) {
	bin := testutil.RequireTool(t, "rsync")
	d := rsyncd.StartConfig(t, rsyncd.Config{BWLimit: 1, Modules: []rsyncd.Module{{Name: "big", Path: bigTree(t, 10, 100)}}})
	pid := 0
	var nices []string
	err := rsync.Run(context.Background(), rsync.Cmd{
		Path:    bin,
		Args:    []string{"-rl", "--list-only", "--no-motd", "--no-h", d.URL("big")},
		Nice:    12,
		Started: func(p int) { pid = p },
		Stdout: func(r io.Reader) error {
			// rsync is running (a line arrived): look at it and whatever it forked.
			if _, err := rsync.NewListReader(r).Next(); err != nil {
				return err
			}
			for _, p := range testutil.GroupMembers(pid) {
				if f, ok := testutil.ProcStat(p); ok && len(f) > 16 {
					nices = append(nices, f[16])
				}
			}
			return errors.New("seen enough")
		},
	})
	if err == nil || err.Error() != "seen enough" {
		t.Fatalf("err = %v", err)
	}
	if len(nices) == 0 {
		t.Fatal("no rsync process found in its group")
	}
	for _, n := range nices {
		if n != "12" {
			t.Fatalf("niceness of rsync's processes: %v, want all 12", nices)
		}
	}
	if err := rsync.Run(context.Background(), rsync.Cmd{Path: bin, Args: []string{"--version"}, Nice: 20}); err == nil {
		t.Fatal("nice 20 accepted")
	}
}
