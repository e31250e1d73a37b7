package schedule

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/inventory"
	"github.com/mirrorkit/mirrorkit/internal/scan"
	"github.com/mirrorkit/mirrorkit/internal/scan/rsyncscan"
	"github.com/mirrorkit/mirrorkit/internal/testutil"
	"github.com/mirrorkit/mirrorkit/internal/testutil/rsyncd"
)

const benchFiles = 300_000

// benchTree makes 1,000 directories of 300 files each. The files of one
// directory are hardlinks to one inode (a filesystem allows ~65,000 links per
// inode): creating 300,000 of them is cheap, and a listing without -H shows
// each as a file of its own, as a real mirror's would be.
func benchTree(b *testing.B) string {
	root := filepath.Join(b.TempDir(), "tree")
	for d := 0; d < benchFiles/300; d++ {
		sub := filepath.Join(root, fmt.Sprintf("pool/%02d/pkg%04d", d%100, d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		src := filepath.Join(sub, "package-0.rpm")
		if err := os.WriteFile(src, make([]byte, 4096+d), 0o644); err != nil {
			b.Fatal(err)
		}
		for f := 1; f < 300; f++ {
			if err := os.Link(src, filepath.Join(sub, fmt.Sprintf("package-%04d-%03d-1.0-1.x86_64.rpm", d, f))); err != nil {
				b.Fatal(err)
			}
		}
	}
	return root
}

// BenchmarkScan300k compares, in one run, plain `rsync --list-only` of a
// 300,000-file tree from the loopback daemon with mirrorkit's whole scan of
// it: the same rsync listing, parsed, folded into the inventory and
// committed. The target: the scan within 1.5x of the listing alone,
// and parse + fold at 100,000 files/s or more.
func BenchmarkScan300k(b *testing.B) {
	rsyncBin := testutil.RequireTool(b, "rsync")
	root := benchTree(b)
	d := rsyncd.Start(b, rsyncd.Module{Name: "pub", Path: root})
	url := d.URL("pub")
	ctx := context.Background()

	b.Run("rsync-list-only", func(b *testing.B) {
		for b.Loop() {
			cmd := exec.CommandContext(ctx, rsyncBin, "-rl", "--list-only", "--no-motd", "--no-h", url)
			cmd.Stdout, cmd.Stderr = nil, os.Stderr
			cmd.Env = append(os.Environ(), "TZ=UTC")
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(benchFiles)*float64(b.N)/b.Elapsed().Seconds(), "files/s")
	})

	sc := rsyncscan.New(rsyncscan.Options{Timeout: time.Minute})
	svc := &Service{Inventory: inventory.New()}
	// The catalog is the tree itself, from a first listing.
	var files []inventory.File
	err := sc.Scan(ctx, scan.Target{URL: url}, func(e scan.Entry) error {
		if e.Type == scan.File {
			files = append(files, inventory.File{ID: inventory.FileID(len(files) + 1), Path: e.Path, Size: e.Size, ModTime: e.ModTime})
		}
		return nil
	})
	if err != nil || len(files) != benchFiles {
		b.Fatalf("%d files, %v", len(files), err)
	}
	if _, err := svc.Inventory.SetCatalog(files); err != nil {
		b.Fatal(err)
	}
	b.Run("mirrorkit-scan", func(b *testing.B) {
		for b.Loop() {
			col, n, err := svc.list(ctx, 1, sc, scan.Target{URL: url, Timeout: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			if st := col.Finish(nil); st.Current != benchFiles || n < benchFiles {
				b.Fatalf("current %d of %d (entries %d)", st.Current, benchFiles, n)
			}
			if _, err := svc.Inventory.Commit(col.Column); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(benchFiles)*float64(b.N)/b.Elapsed().Seconds(), "files/s")
	})
}
