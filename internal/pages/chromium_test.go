//go:build unix

package pages_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/mirrorkit/mirrorkit/internal/netstatus"
	"github.com/mirrorkit/mirrorkit/internal/pages"
	"github.com/mirrorkit/mirrorkit/internal/testutil"
)

// chromiumTimeout bounds one browser run; a healthy one takes a second or two.
const chromiumTimeout = 60 * time.Second

// TestChromium renders the pages in headless Chromium (Debian package
// "chromium"), asserts on the text a reader sees and on the map's dots in
// the DOM the browser built, and saves screenshots at desktop and phone
// width under $MIRRORKIT_ARTIFACTS/pages (default: a temporary directory).
func TestChromium(t *testing.T) {
	bin := testutil.RequireTool(t, "chromium")
	artifacts := os.Getenv("MIRRORKIT_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	}
	artifacts = filepath.Join(artifacts, "pages")
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", artifacts)

	n := fixture()
	h, err := pages.New(func() *netstatus.Network { return n }, pages.Options{
		Title: "Example Linux mirrors", GeoCredit: pages.DBIPCredit, GeoCreditURL: pages.DBIPCreditURL, History: history,
	})
	if err != nil {
		t.Fatal(err)
	}
	log := &requestLog{}
	srv := httptest.NewServer(log.wrap(h))
	t.Cleanup(srv.Close)

	t.Run("list", func(t *testing.T) {
		t.Parallel()
		dom := runChromium(t, bin, "--dump-dom", srv.URL+"/mirrors/")
		doc, err := html.Parse(bytes.NewReader(dom))
		if err != nil {
			t.Fatal(err)
		}
		text := visibleText(doc)
		for _, m := range n.Mirrors {
			if !strings.Contains(text, m.Name) {
				t.Errorf("visible text lacks mirror %s", m.Name)
			}
		}
		for _, want := range []string{"Example Linux mirrors", "Europe", "North America", "South America", "Asia", "Oceania", "Africa",
			"Germany", "Japan", "● up", "◐ stale", "✕ down", "⊘ disabled", "? unknown", "Hetzner Online", hostileSponsor, "10 Gbit/s", "25 min", "IP geolocation by DB-IP"} {
			if !strings.Contains(text, want) {
				t.Errorf("visible text lacks %q", want)
			}
		}
		dots := mapDots(doc)
		var placed []string
		for _, m := range n.Mirrors {
			if m.Latitude != nil {
				placed = append(placed, m.Name)
			}
		}
		slices.Sort(placed)
		got := make([]string, 0, len(dots))
		for name := range dots {
			got = append(got, name)
		}
		slices.Sort(got)
		if !slices.Equal(got, placed) {
			t.Errorf("map dots for %v, want %v", got, placed)
		}
		for _, m := range n.Mirrors {
			if d, ok := dots[m.Name]; ok && !strings.Contains(d, "state-"+string(m.State)) {
				t.Errorf("dot of %s has class %q, want state-%s", m.Name, d, m.State)
			}
		}
	})

	t.Run("mirror", func(t *testing.T) {
		t.Parallel()
		dom := runChromium(t, bin, "--dump-dom", srv.URL+"/mirrors/us-nyc")
		doc, err := html.Parse(bytes.NewReader(dom))
		if err != nil {
			t.Fatal(err)
		}
		text := visibleText(doc)
		for _, want := range []string{"us-nyc", "✕ down", "https over IPv4: connection refused", "https over IPv6: connection refused",
			"rsync: connection refused", "NYC Co-op", "New York, United States", "4 min ago",
			"8 of 12 probes answered", "Recent failures", "https over IPv4: connection refused"} {
			if !strings.Contains(text, want) {
				t.Errorf("visible text of the mirror page lacks %q", want)
			}
		}
	})

	// colours are state colours the shot must show: the map's dots, or a
	// mirror page's state badge.
	const up, stale, down = "#1a7f37", "#b26a00", "#c62828"
	shots := []struct {
		name, path, size string
		colours          []string
	}{
		{"list-desktop", "/mirrors/", "1280,1600", []string{up, stale, down}},
		{"list-phone", "/mirrors/", "390,844", []string{up, stale, down}},
		{"mirror-desktop", "/mirrors/us-nyc", "1280,1600", []string{down}},
		{"mirror-phone", "/mirrors/fr-par", "390,844", []string{stale}},
		// The history sections: us-nyc's probe strip (green, then red),
		// fr-par's lag bars (green, then over the maximum).
		{"mirror-probes", "/mirrors/us-nyc", "1280,2000", []string{up, down}},
		{"mirror-lag", "/mirrors/fr-par", "1280,2000", []string{up, stale}},
		{"map", "/mirrors/map.svg", "1200,480", []string{up, stale, down}},
	}
	for _, s := range shots {
		t.Run("screenshot-"+s.name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(artifacts, s.name+".png")
			runChromium(t, bin, "--screenshot="+file, "--window-size="+s.size, srv.URL+s.path)
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			var w, hgt int
			if _, err := fmtSscan(s.size, &w, &hgt); err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != w || b.Dy() != hgt {
				t.Errorf("%s is %dx%d, want %dx%d", file, b.Dx(), b.Dy(), w, hgt)
			}
			for _, c := range s.colours {
				if countColour(img, c) == 0 {
					t.Errorf("%s: no pixel of %s", file, c)
				}
			}
			t.Logf("saved %s", file)
		})
	}

	t.Cleanup(func() {
		// Every page fetched its stylesheet, which CSP allowed: a page whose
		// CSS was refused would look fine in the DOM and broken to people.
		if n := log.count("/mirrors/_static/style.css", http.StatusOK); n == 0 && !t.Failed() {
			t.Errorf("no browser fetched the stylesheet; requests: %v", log.all())
		}
	})
}

// runChromium runs one headless Chromium in its own process group with its
// own profile and HOME, bounded by chromiumTimeout, and returns its stdout.
// Afterwards it kills the group and checks that no process of this run is
// left, including any that left the group: they all name the profile
// directory on their command line.
func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	home := t.TempDir()
	profile := filepath.Join(home, "profile")
	ctx, cancel := context.WithTimeout(t.Context(), chromiumTimeout)
	defer cancel()
	full := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--no-first-run", "--no-default-browser-check", "--disable-dev-shm-usage",
		"--disable-crash-reporter", "--disable-breakpad", "--disable-extensions",
		"--disable-component-update", "--disable-sync", "--hide-scrollbars", "--mute-audio",
		"--enable-logging=stderr", "--v=0",
		"--user-data-dir=" + profile,
	}, args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home+"/.config", "XDG_CACHE_HOME="+home+"/.cache")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	err := cmd.Wait()
	// Helpers (zygote, crashpad) may outlive the browser process.
	if kerr := syscall.Kill(-pgid, syscall.SIGKILL); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
		t.Errorf("kill chromium's process group: %v", kerr)
	}
	if left := waitGone(pgid, profile, 10*time.Second); len(left) > 0 {
		t.Errorf("chromium processes left behind: %v", left)
	}
	if ctx.Err() != nil {
		t.Fatalf("chromium %v: timed out after %v\nstderr:\n%s", args, chromiumTimeout, tail(stderr.String()))
	}
	if err != nil {
		t.Fatalf("chromium %v: %v\nstderr:\n%s", args, err, tail(stderr.String()))
	}
	if s := stderr.String(); strings.Contains(s, "Content Security Policy") || strings.Contains(s, "Content-Security-Policy") {
		t.Errorf("chromium %v reported a CSP violation:\n%s", args, tail(s))
	}
	return stdout.Bytes()
}

// waitGone waits, up to limit, until no live process is in the group or has
// the profile directory on its command line, and returns those still there.
// Killed processes take a moment to be reaped; this polls for that, not for
// something to happen by chance.
func waitGone(pgid int, profile string, limit time.Duration) []int {
	deadline := time.Now().Add(limit)
	for {
		left := testutil.GroupMembers(pgid)
		for _, pid := range profileProcs(profile) {
			if !slices.Contains(left, pid) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// profileProcs lists live processes whose command line names dir.
func profileProcs(dir string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmtSscan(e.Name(), &pid); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && bytes.Contains(b, []byte(dir)) && testutil.ProcessAlive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// visibleText is the text of the body a reader sees: no <head>, no SVG
// tooltips (<title>), whitespace collapsed.
func visibleText(doc *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && (n.Data == "head" || n.Data == "title" || n.Data == "script" || n.Data == "style") {
			return
		}
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
			b.WriteByte(' ')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return strings.Join(strings.Fields(b.String()), " ")
}

// mapDots returns the class of every map circle by the mirror it stands for.
func mapDots(doc *html.Node) map[string]string {
	dots := make(map[string]string)
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "circle" {
			var name, class string
			for _, a := range n.Attr {
				switch a.Key {
				case "data-mirror":
					name = a.Val
				case "class":
					class = a.Val
				}
			}
			if strings.Contains(class, "dot") {
				dots[name] = class
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return dots
}

// countColour counts pixels within a small distance of a #rrggbb colour
// (antialiasing and colour management shift edges slightly).
func countColour(img image.Image, hex string) int {
	var want [3]int
	for i := range 3 {
		var v int
		fmtSscanHex(hex[1+2*i:3+2*i], &v)
		want[i] = v
	}
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if abs(int(r>>8)-want[0]) <= 6 && abs(int(g>>8)-want[1]) <= 6 && abs(int(bl>>8)-want[2]) <= 6 {
				n++
			}
		}
	}
	return n
}

func abs(v int) int { return max(v, -v) }

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

// requestLog records which paths the browser fetched with which status.
type requestLog struct {
	mu   sync.Mutex
	seen []string
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(rec, r)
		l.mu.Lock()
		l.seen = append(l.seen, r.URL.Path+" "+http.StatusText(rec.code))
		l.mu.Unlock()
	})
}

func (l *requestLog) count(path string, code int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(strings.Join(l.seen, "\n")+"\n", path+" "+http.StatusText(code)+"\n")
}

func (l *requestLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seen)
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func fmtSscan(s string, dst ...*int) (int, error) {
	return fmt.Sscanf(strings.ReplaceAll(s, ",", " "), strings.TrimSpace(strings.Repeat("%d ", len(dst))), anys(dst)...)
}

func fmtSscanHex(s string, dst *int) { fmt.Sscanf(s, "%x", dst) }

func anys(ps []*int) []any {
	out := make([]any, len(ps))
	for i, p := range ps {
		out[i] = p
	}
	return out
}
