package fileserver

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestNoRange: for NoRange patterns a Range gets the whole file with 200
// and "Accept-Ranges: none", and aria2 (a real download accelerator, asked
// for 4 connections) still completes the download, correctly.
func TestNoRange(t *testing.T) {
	root := t.TempDir()
	data := pattern(8 << 20)
	writeFile(t, filepath.Join(root, "a.iso"), data, 0o644)
	writeFile(t, filepath.Join(root, "a.rpm"), data[:1000], 0o644)
	cfg := DefaultConfig(root)
	cfg.NoRange = []string{"*.iso"}
	cfg.AccessLog = filepath.Join(t.TempDir(), "access.log")
	ts := start(t, cfg)

	out := filepath.Join(t.TempDir(), "out")
	code, h := parseHead(t, mustRun(t, "curl", "-sS", "-D", "-", "-o", out, "-r", "100-199", ts.URL+"/a.iso"))
	got, _ := os.ReadFile(out)
	if code != 200 || h.Get("Accept-Ranges") != "none" || h.Get("Content-Range") != "" || !bytes.Equal(got, data) {
		t.Errorf("ranged GET of a no-range file: %d %v, %d bytes; want 200, Accept-Ranges: none, the whole file", code, h, len(got))
	}
	_, h = parseHead(t, mustRun(t, "curl", "-sSI", ts.URL+"/a.iso"))
	if h.Get("Accept-Ranges") != "none" {
		t.Errorf("HEAD: Accept-Ranges %q, want none", h.Get("Accept-Ranges"))
	}
	if code := mustRun(t, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-r", "0-9", ts.URL+"/a.rpm"); code != "206" {
		t.Errorf("other files keep ranges: %s", code)
	}
	if n := ts.metric(t, "mirrorkit_fileserver_refusals_total", "reason=range"); n != 1 {
		t.Errorf("refusals{range} = %v, want 1", n)
	}

	dir := t.TempDir()
	mustRun(t, "aria2c", "-q", "-x4", "-s4", "-k1M", "--max-tries=2", "--retry-wait=0", "-d", dir, "-o", "aria.iso", ts.URL+"/a.iso")
	got, _ = os.ReadFile(filepath.Join(dir, "aria.iso"))
	if !bytes.Equal(got, data) {
		t.Fatalf("aria2c: %d bytes, want the %d-byte file", len(got), len(data))
	}
	// aria2 opens its four connections at once; on "Accept-Ranges: none"
	// it keeps one and drops the others. What the dropped ones were "sent"
	// is what the kernel took into socket buffers before aria2 hung up (a
	// few MB on loopback), so count transfers, not bytes: one whole file,
	// no part.
	var whole, cut int
	lines := readLines(t, cfg.AccessLog)[3:] // after the three curl requests
	for _, l := range lines {
		got := parseLog(t, l)
		switch {
		case got.status != 200:
			t.Errorf("aria2c got a %d: %s", got.status, l)
		case got.body == int64(len(data)):
			whole++
		default:
			cut++
		}
	}
	t.Logf("aria2c -x4 -s4: %d requests: %d whole file, %d dropped early", len(lines), whole, cut)
	if whole != 1 {
		t.Errorf("aria2c made %d whole transfers of the file, want exactly 1", whole)
	}
}
