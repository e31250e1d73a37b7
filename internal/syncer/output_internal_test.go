package syncer

import (
	"slices"
	"strings"
	"testing"
)

// rsync 3.5's output for a stage-1 pass, as the agent runs it.
const sampleOutput = "mk: .d..t...... 4096 0 ./\n" +
	"mk: cd+++++++++ 4096 0 pool/\n" +
	"\r              0   0%    0.00kB/s    0:00:00  \r" +
	"              3   5%    2.93kB/s    0:00:00 (xfr#1, to-chk=9/15)\n" +
	"mk: >f+++++++++ 6 46 pool/p1.deb\n" +
	"mk: >f.st...... 6 46 pool/p2.deb\n" +
	"mk: hf+++++++++ 6 0 pool/hard.deb => pool/p1.deb\n" +
	"cannot delete non-empty directory: old\n" +
	"mk: *deleting   0 0 old/o4\n" +
	"\n" +
	"Number of files: 8 (reg: 4, dir: 2, link: 2)\n" +
	"Number of created files: 5 (reg: 4, dir: 1)\n" +
	"Number of deleted files: 0\n" +
	"Total bytes sent: 135\n" +
	"Total bytes received: 1,367\n"

func TestConsumeOutput(t *testing.T) {
	ps := newPassStats()
	var items []string
	var progress []progress2
	err := consumeOutput(strings.NewReader(sampleOutput), &ps,
		func(it Item) { items = append(items, it.Name) },
		func(p progress2) { progress = append(progress, p) })
	if err != nil {
		t.Fatal(err)
	}
	if ps.Files != 8 || ps.BytesReceived != 1367 || ps.Added != 2 || ps.Changed != 1 || ps.Deleted != 1 || ps.DirsAdded != 1 || !ps.statsSeen {
		t.Fatalf("stats: %+v", ps)
	}
	if len(items) != 6 || items[4] != "pool/hard.deb => pool/p1.deb" {
		t.Fatalf("items: %q", items)
	}
	if len(progress) != 2 || progress[1].bytes != 3 || progress[1].percent != 5 || progress[1].toCheck != 9 || progress[1].total != 15 {
		t.Fatalf("progress: %+v", progress)
	}
	ps.stderrLine("Deletions stopped due to --max-delete limit (4 skipped)")
	if ps.SkippedDeletes != 4 {
		t.Fatalf("skipped deletions: %d", ps.SkippedDeletes)
	}
}

func TestFilterArgs(t *testing.T) {
	job := Job{Name: "j", Upstream: "rsync://h/m/", Dest: "/srv/m", StateDir: "/var/lib/s", UpstreamTrace: "lastupdate",
		Exclude: []string{"*.iso"}}
	s, err := job.settings()
	if err != nil {
		t.Fatal(err)
	}
	content := s.rsyncArgs(passContent, false, false, -1)
	for _, want := range []string{"--delete-after", "--max-delete=0", "--filter=- dists/", "--filter=- repodata/", "--filter=- *.db.tar.*",
		"--filter=- /project/trace/", "--filter=- /lastupdate", "--filter=- /project/trace/j", "--filter=- *.iso", "--safe-links", "--numeric-ids", "--delay-updates"} {
		if !slices.Contains(content, want) {
			t.Errorf("stage 1 lacks %q: %v", want, content)
		}
	}
	meta := s.rsyncArgs(passMetadata, false, false, -1)
	if slices.Contains(meta, "--delete-after") || !slices.Contains(meta, "--filter=- InRelease") || !slices.Contains(meta, "--filter=+ dists/**") ||
		meta[len(meta)-4] != "--filter=- *" {
		t.Errorf("metadata pass: %v", meta)
	}
	final := s.rsyncArgs(passFinal, true, true, 7)
	for _, want := range []string{"--delete-after", "--max-delete=7", "--dry-run", "--info=progress2"} {
		if !slices.Contains(final, want) {
			t.Errorf("final pass lacks %q: %v", want, final)
		}
	}
	if final[len(final)-2] != "rsync://h/m/" || final[len(final)-1] != "/srv/m/" {
		t.Errorf("source and destination: %v", final[len(final)-3:])
	}

	job.Subtrees = []string{"a/b/c/", "a/d"}
	s, _ = job.settings()
	f := s.userFilters()
	want := []string{"--filter=- *.iso", "--filter=+ /a/", "--filter=+ /a/b/", "--filter=+ /a/b/c", "--filter=+ /a/b/c/***", "--filter=+ /a/d", "--filter=+ /a/d/***", "--filter=- *"}
	if !slices.Equal(f, want) {
		t.Errorf("subtree filters:\n%q\nwant\n%q", f, want)
	}
	if s.metadataOnly() {
		t.Error("a partial mirror's metadata pass must use the full filter")
	}
}
