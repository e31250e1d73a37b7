package syncer_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mirrorkit/mirrorkit/internal/syncer"
	"github.com/mirrorkit/mirrorkit/internal/testutil"
	"github.com/mirrorkit/mirrorkit/internal/testutil/rsyncd"
)

// benchTree writes a 20,000-file tree: 19,900 package-like files of 512 B
// to 4 KiB in 200 directories, and a Debian-style dists/ with 100 index
// files, so that every stage of the agent has work.
func benchTree(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	r := rand.New(rand.NewPCG(20000, 1))
	buf := make([]byte, 4096)
	write := func(p string, n int) {
		for i := range buf[:n] {
			buf[i] = byte(r.Uint32())
		}
		if err := os.WriteFile(p, buf[:n], 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for d := range 200 {
		p := filepath.Join(dir, "pool", fmt.Sprintf("d%03d", d))
		if err := os.MkdirAll(p, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range 100 {
			if d == 199 && f >= 0 && f < 100 {
				break
			}
			write(filepath.Join(p, fmt.Sprintf("pkg%03d_1.0.deb", f)), 512+r.IntN(3584))
		}
	}
	for i := range 100 {
		p := filepath.Join(dir, "dists", fmt.Sprintf("suite%02d", i%10), "main", fmt.Sprintf("binary-arch%02d", i/10))
		if err := os.MkdirAll(p, 0o755); err != nil {
			b.Fatal(err)
		}
		write(filepath.Join(p, "Packages"), 4096)
	}
	if err := os.MkdirAll(filepath.Join(dir, "project/trace"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "project/trace/master"), []byte("bench\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

func benchJob(b *testing.B, url, dest string) syncer.Job {
	return syncer.Job{Name: "bench", Upstream: url, Dest: dest, StateDir: filepath.Join(filepath.Dir(dest), "state-"+filepath.Base(dest)),
		Rsync: testutil.RequireTool(b, "rsync"), UpstreamTrace: "project/trace/master", MaxDeleteShare: 1}
}

// BenchmarkFullSync20k copies a 20,000-file tree into an empty directory,
// with the agent (trace fetch, two stages in three rsync passes, trace
// written) and with one plain rsync, side by side.
func BenchmarkFullSync20k(b *testing.B) {
	src := benchTree(b)
	d := rsyncd.Start(b, rsyncd.Module{Name: "bench", Path: src})
	bin := testutil.RequireTool(b, "rsync")
	b.Run("agent", func(b *testing.B) {
		var stage1, stage2 float64
		n := 0
		for b.Loop() {
			b.StopTimer()
			dest := filepath.Join(b.TempDir(), "m")
			s, err := syncer.New(benchJob(b, d.URL("bench"), dest), syncer.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			res, err := s.Run(context.Background(), syncer.RunOptions{})
			if err != nil || res.Added < 20000 {
				b.Fatalf("%v %+v", err, res)
			}
			stage1 += res.Stages[0].Duration.Seconds()
			stage2 += res.Stages[1].Duration.Seconds()
			n++
		}
		b.ReportMetric(stage1/float64(n), "stage1-s/op")
		b.ReportMetric(stage2/float64(n), "stage2-s/op")
	})
	b.Run("rsync", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			dest := filepath.Join(b.TempDir(), "m")
			b.StartTimer()
			out, err := exec.Command(bin, "-rlptH", "--delete-after", "--delay-updates", d.URL("bench"), dest+"/").CombinedOutput()
			if err != nil {
				b.Fatalf("%v\n%s", err, out)
			}
		}
	})
}

// BenchmarkUpToDate20k syncs a tree that is already current: the agent
// forced past its trace check (three listings) against one plain rsync
// (one listing), and the agent's no-op when the upstream trace is
// unchanged, fetched over rsync and over HTTP.
func BenchmarkUpToDate20k(b *testing.B) {
	src := benchTree(b)
	d := rsyncd.Start(b, rsyncd.Module{Name: "bench", Path: src})
	web := httptest.NewServer(http.FileServer(http.Dir(src)))
	defer web.Close()
	bin := testutil.RequireTool(b, "rsync")
	dest := filepath.Join(b.TempDir(), "m")
	job := benchJob(b, d.URL("bench"), dest)
	s, err := syncer.New(job, syncer.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Run(context.Background(), syncer.RunOptions{}); err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, s *syncer.Syncer, o syncer.RunOptions, want syncer.Outcome) {
		for b.Loop() {
			res, err := s.Run(context.Background(), o)
			if err != nil || res.Outcome != want {
				b.Fatalf("%v %s", err, res.Outcome)
			}
		}
	}
	b.Run("agent-forced", func(b *testing.B) { run(b, s, syncer.RunOptions{Force: true}, syncer.OutcomeSynced) })
	b.Run("agent-forced-no-metadata-pass", func(b *testing.B) {
		j := job
		j.MetadataLast = []string{}
		s, err := syncer.New(j, syncer.Options{})
		if err != nil {
			b.Fatal(err)
		}
		run(b, s, syncer.RunOptions{Force: true}, syncer.OutcomeSynced)
	})
	b.Run("rsync", func(b *testing.B) {
		for b.Loop() {
			out, err := exec.Command(bin, "-rlptH", "--delete-after", "--delay-updates", d.URL("bench"), dest+"/").CombinedOutput()
			if err != nil {
				b.Fatalf("%v\n%s", err, out)
			}
		}
	})
	// The plain rsync deleted the agent's trace: one run puts it back.
	if _, err := s.Run(context.Background(), syncer.RunOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Run("agent-unchanged-rsync-trace", func(b *testing.B) { run(b, s, syncer.RunOptions{}, syncer.OutcomeUnchanged) })
	// The floor of any rsync-based check: one bare rsync of the trace
	// file, fetched or listed.
	trace := d.URL("bench") + "project/trace/master"
	b.Run("bare-rsync-fetch-trace", func(b *testing.B) {
		out := filepath.Join(b.TempDir(), "trace")
		for b.Loop() {
			os.Remove(out)
			if o, err := exec.Command(bin, "-q", "--no-motd", "--sockopts=TCP_NODELAY", trace, out).CombinedOutput(); err != nil {
				b.Fatalf("%v\n%s", err, o)
			}
		}
	})
	b.Run("bare-rsync-list-trace", func(b *testing.B) {
		for b.Loop() {
			if o, err := exec.Command(bin, "--list-only", "--no-motd", "--sockopts=TCP_NODELAY", trace).CombinedOutput(); err != nil {
				b.Fatalf("%v\n%s", err, o)
			}
		}
	})
	job.UpstreamTrace = web.URL + "/project/trace/master"
	sh, err := syncer.New(job, syncer.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := sh.Run(context.Background(), syncer.RunOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Run("agent-unchanged-http-trace", func(b *testing.B) { run(b, sh, syncer.RunOptions{}, syncer.OutcomeUnchanged) })
}
