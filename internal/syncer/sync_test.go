package syncer_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/mirrorkit/mirrorkit/internal/syncer"
	"github.com/mirrorkit/mirrorkit/internal/testutil/rsyncd"
)

// The mirror equals the upstream after every version: hard-link groups,
// modes (0750, setgid), symlinks (unsafe ones left out), deletions,
// renames and odd names included.
func TestSyncFollowsUpstream(t *testing.T) {
	u := startUpstream(t, rsyncd.Config{}, nil)
	job := testJob(t, u.url)
	s := newSyncer(t, job, syncer.Options{})

	var progress []syncer.Progress
	res := mustRun(t, s, syncer.RunOptions{Trigger: "test", Progress: func(p syncer.Progress) { progress = append(progress, p) }})
	if res.Outcome != syncer.OutcomeSynced {
		t.Fatalf("outcome %s, want synced", res.Outcome)
	}
	var sawBytes, sawStage2 bool
	for _, p := range progress {
		sawBytes = sawBytes || (p.Stage == 1 && p.Bytes > 0 && p.Total > 0)
		sawStage2 = sawStage2 || (p.Stage == 2 && p.Items > 0)
	}
	if !sawBytes || !sawStage2 {
		t.Errorf("progress: bytes in stage 1 %v, items in stage 2 %v (%d updates)", sawBytes, sawStage2, len(progress))
	}
	requireEqualTrees(t, u.repo.Dir, job)
	if res.Added == 0 || res.BytesReceived == 0 || len(res.Stages) != 2 {
		t.Errorf("first run summary: %s", jsonString(res))
	}
	for _, unsafe := range []string{"misc/escape", "misc/abs"} {
		if _, err := os.Lstat(filepath.Join(job.Dest, unsafe)); err == nil {
			t.Errorf("unsafe symlink %s was copied", unsafe)
		}
	}
	fi, err := os.Stat(filepath.Join(job.Dest, "misc/staged"))
	if err != nil || fi.Mode().Perm() != 0o750 {
		t.Fatalf("staged directory: %v %v", fi, err)
	}

	for v := 2; v <= 4; v++ {
		if err := u.repo.Write(v); err != nil {
			t.Fatal(err)
		}
		res := mustRun(t, s, syncer.RunOptions{Trigger: "test"})
		if res.Outcome != syncer.OutcomeSynced {
			t.Fatalf("version %d: outcome %s", v, res.Outcome)
		}
		requireEqualTrees(t, u.repo.Dir, job)
		if res.Deleted == 0 || res.Added == 0 {
			t.Errorf("version %d: expected additions and deletions: %s", v, jsonString(res))
		}
		if _, err := os.Stat(filepath.Join(job.Dest, "misc/docs/notes-"+itoa(v-1)+".txt")); err == nil {
			t.Errorf("version %d: the renamed file's old name is still there", v)
		}
	}
	if _, err := os.Stat(filepath.Join(job.Dest, job.InProgressFile)); err == nil {
		t.Error("the in-progress file was left behind")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
