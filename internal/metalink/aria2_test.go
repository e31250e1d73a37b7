package metalink

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/testutil"
)

// mirror is an HTTP server holding one file under /pub/NAME (or nothing, if
// content is nil), with Range support as real mirrors have, counting the
// requests it answers.
type mirror struct {
	*httptest.Server
	hits atomic.Int64
}

func startMirror(t *testing.T, name string, content []byte) *mirror {
	t.Helper()
	m := &mirror{}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.hits.Add(1)
		if content == nil || r.URL.Path != "/pub/"+name {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, name, time.Date(2024, 4, 16, 0, 0, 0, 0, time.UTC), bytes.NewReader(content))
	}))
	t.Cleanup(m.Close)
	return m
}

type aria2Result struct {
	err    error // from exec: nil means exit status 0
	output string
	dir    string
}

// runAria2c writes doc to a .meta4/.metalink file and lets aria2c download
// it into a fresh directory.
func runAria2c(t *testing.T, aria2c, docName string, doc []byte) aria2Result {
	t.Helper()
	tmp := t.TempDir()
	docPath := filepath.Join(tmp, docName)
	if err := os.WriteFile(docPath, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "download")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, aria2c,
		"--no-conf", // a developer's ~/.aria2/aria2.conf must not change the outcome
		"-M", docPath, "-d", dir,
		"--file-allocation=none", "--console-log-level=warn", "--summary-interval=0",
		// As the redirector's users run it. With it aria2c first checks
		// the not-yet-downloaded file and logs "Checksum error detected"
		// even on success; hash enforcement during the download (exit 1
		// on a bad piece, 32 on a bad whole file) is the same without it.
		"--check-integrity=true",
		// Split the 3 MiB file so both mirrors are used, as a client
		// fetching a large ISO would; the defaults (20M) would not split it.
		"--split=4", "--min-split-size=1M", "--max-connection-per-server=2",
		// Fail fast instead of retrying a broken mirror for minutes.
		"--max-tries=2", "--retry-wait=0", "--connect-timeout=5", "--timeout=10",
	)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("aria2c did not finish within the timeout: %v\n%s", ctx.Err(), out)
	}
	return aria2Result{err: err, output: string(out), dir: dir}
}

func TestAria2cEndToEnd(t *testing.T) {
	aria2c := testutil.RequireTool(t, "aria2c")
	const name = "Fedora-40-x86_64.iso"
	content := seededBytes(3*mib, 42)
	f := describe(name, content, mib)
	o := Options{Generator: "mirrorkit/test", Published: time.Date(2024, 4, 23, 12, 0, 0, 0, time.UTC)}

	t.Run("meta4 from two mirrors", func(t *testing.T) {
		a, b := startMirror(t, name, content), startMirror(t, name, content)
		urls := []URL{
			{URL: a.URL + "/pub/" + name, Location: "DE", Priority: 1},
			{URL: b.URL + "/pub/" + name, Location: "US", Priority: 2},
		}
		var doc bytes.Buffer
		if err := Meta4(&doc, f, urls, o); err != nil {
			t.Fatal(err)
		}
		res := runAria2c(t, aria2c, name+".meta4", doc.Bytes())
		if res.err != nil {
			t.Fatalf("aria2c failed: %v\n%s", res.err, res.output)
		}
		requireDownloaded(t, filepath.Join(res.dir, name), content)
		t.Logf("requests: mirror a %d, mirror b %d\n%s", a.hits.Load(), b.hits.Load(), res.output)
		if a.hits.Load() == 0 || b.hits.Load() == 0 {
			t.Errorf("aria2c did not use both mirrors: %d and %d requests", a.hits.Load(), b.hits.Load())
		}
	})

	// What Options.IncludeRsync would hand aria2c: an rsync URL it cannot
	// fetch, listed first.
	t.Run("meta4 with rsync first", func(t *testing.T) {
		a := startMirror(t, name, content)
		urls := []URL{
			{URL: "rsync://127.0.0.1:1/pub/" + name, Location: "NL", Priority: 1},
			{URL: a.URL + "/pub/" + name, Location: "DE", Priority: 2},
		}
		var doc bytes.Buffer
		if err := Meta4(&doc, f, urls, Options{IncludeRsync: true}); err != nil {
			t.Fatal(err)
		}
		res := runAria2c(t, aria2c, name+".meta4", doc.Bytes())
		t.Logf("aria2c: %v\n%s", res.err, res.output)
		if res.err != nil {
			t.Fatalf("aria2c failed: %v\n%s", res.err, res.output)
		}
		requireDownloaded(t, filepath.Join(res.dir, name), content)
	})

	t.Run("metalink3 from two mirrors", func(t *testing.T) {
		a, b := startMirror(t, name, content), startMirror(t, name, content)
		urls := []URL{
			{URL: a.URL + "/pub/" + name, Location: "DE", Priority: 1},
			{URL: b.URL + "/pub/" + name, Priority: 2},
		}
		var doc bytes.Buffer
		if err := Metalink3(&doc, f, urls, o); err != nil {
			t.Fatal(err)
		}
		res := runAria2c(t, aria2c, name+".metalink", doc.Bytes())
		if res.err != nil {
			t.Fatalf("aria2c failed: %v\n%s", res.err, res.output)
		}
		requireDownloaded(t, filepath.Join(res.dir, name), content)
	})

	// One mirror serves a copy with one byte flipped (in piece 1), the other
	// has lost the file (404). The only bytes on offer are wrong, so the
	// hashes must stop aria2c from reporting success; each kind of hash is
	// tried alone so that each one is shown to be read and enforced.
	corrupt := bytes.Clone(content)
	corrupt[len(corrupt)/2] ^= 0x01
	for _, format := range []struct {
		ext    string
		render func(io.Writer, File, []URL, Options) error
	}{{".meta4", Meta4}, {".metalink", Metalink3}} {
		for _, v := range []struct {
			name     string
			strip    func(*File)
			accepted bool
			// wholeFileOnly: with no piece hashes aria2c can only check
			// the finished file; it then exits 32 ("checksum validation
			// failed" in its manual) but leaves the bad bytes in place.
			wholeFileOnly bool
		}{
			{name: "all hashes", strip: func(*File) {}},
			{name: "piece hashes only", strip: func(f *File) { f.SHA256, f.SHA1, f.MD5, f.SHA512 = "", "", "", "" }},
			{name: "sha-256 only", strip: func(f *File) { f.SHA1, f.MD5, f.SHA512, f.PieceSize, f.Pieces = "", "", "", 0, nil }, wholeFileOnly: true},
			// The control: with nothing to check against, aria2c takes the
			// corrupt copy and exits 0, so the failures above are the
			// hashes' doing and not the 404's.
			{name: "no hashes (control)", strip: func(f *File) { *f = File{Name: f.Name, Size: f.Size} }, accepted: true},
		} {
			t.Run(format.ext+" corrupt copy, "+v.name, func(t *testing.T) {
				bad, gone := startMirror(t, name, corrupt), startMirror(t, name, nil)
				urls := []URL{
					{URL: bad.URL + "/pub/" + name, Location: "DE", Priority: 1},
					{URL: gone.URL + "/pub/" + name, Location: "US", Priority: 2},
				}
				ff := f
				v.strip(&ff)
				var doc bytes.Buffer
				if err := format.render(&doc, ff, urls, o); err != nil {
					t.Fatal(err)
				}
				res := runAria2c(t, aria2c, name+format.ext, doc.Bytes())
				if v.accepted {
					if res.err != nil {
						t.Fatalf("control: aria2c failed without hashes: %v\n%s", res.err, res.output)
					}
					requireDownloaded(t, filepath.Join(res.dir, name), corrupt)
					return
				}
				var exit *exec.ExitError
				if !errors.As(res.err, &exit) {
					t.Fatalf("aria2c exit: %v, want a non-zero exit status\n%s", res.err, res.output)
				}
				t.Logf("aria2c exit status %d", exit.ExitCode())
				if v.wholeFileOnly {
					if exit.ExitCode() != 32 {
						t.Errorf("aria2c exit status %d, want 32 (checksum validation failed)\n%s", exit.ExitCode(), res.output)
					}
					return
				}
				// A piece that fails its hash is never written as good, so
				// the corrupt copy must not be complete under the final name.
				if got, err := os.ReadFile(filepath.Join(res.dir, name)); err == nil && bytes.Equal(got, corrupt) {
					t.Errorf("aria2c failed but left the corrupt copy complete under the final name")
				}
			})
		}
	}

	// Names that need XML escaping or percent-encoding reach aria2c as the
	// package documents: escaped characters unchanged, invalid UTF-8 as %XX.
	// The exception is '&' in the name attribute: aria2c parses with
	// libxml2's SAX interface without entity substitution, which hands it
	// "&#38;" for "&amp;" (and for "&#38;"), so it saves "R&#38;D.iso". No
	// well-formed spelling avoids that, and '&' in <url> text is unaffected.
	for _, tc := range []struct{ name, escaped, saved string }{
		{`a&b <c> "d".iso`, "a&b%20%3Cc%3E%20%22d%22.iso", `a&#38;b <c> "d".iso`},
		{"R&D.iso", "R&D.iso?x=1&y=2", "R&#38;D.iso"},
		{"caf\xe9.iso", "caf%E9.iso", "caf%E9.iso"},
		{"100% ünïcode.iso", "100%25%20%C3%BCn%C3%AFcode.iso", "100% ünïcode.iso"},
	} {
		t.Run("name "+tc.saved, func(t *testing.T) {
			m := startMirror(t, tc.name, content)
			var doc bytes.Buffer
			ff := f
			ff.Name = tc.name
			if err := Meta4(&doc, ff, []URL{{URL: m.URL + "/pub/" + tc.escaped, Priority: 1}}, o); err != nil {
				t.Fatal(err)
			}
			res := runAria2c(t, aria2c, "x.meta4", doc.Bytes())
			if res.err != nil {
				t.Fatalf("aria2c failed: %v\n%s", res.err, res.output)
			}
			saved := filepath.Join(res.dir, tc.saved)
			if _, err := os.Stat(filepath.Join(res.dir, tc.name)); err == nil && tc.saved != tc.name {
				// A fixed aria2c (or libxml2) saves the exact name: fine.
				saved = filepath.Join(res.dir, tc.name)
			}
			requireDownloaded(t, saved, content)
		})
	}
}

func requireDownloaded(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		entries, _ := os.ReadDir(filepath.Dir(path))
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("%v (directory holds %s)", err, strings.Join(names, ", "))
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("downloaded file differs from the original (%d vs %d bytes)", len(got), len(want))
	}
}
