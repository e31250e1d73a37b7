package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/testutil"
)

// The README's first command, end to end: the network comes up, redirects
// follow the clients' places, the mirror left behind never gets the changed
// file, and Ctrl-C leaves nothing running.
func TestDemo(t *testing.T) {
	testutil.RequireTool(t, "rsync")
	c := newCLI(t)
	keep := filepath.Join(c.dir, "demo")
	listen := testutil.ClosedAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() { done <- c.runCtx(ctx, "", "demo", "--listen", listen, "--keep", keep) }()
	stopped := false
	var res result
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			res = <-done
		}
	}
	defer stop()

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path, from string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+listen+path, nil)
		if from != "" {
			req.Header.Set("X-Forwarded-For", from)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if resp, err := http.Get("http://" + listen + "/"); err == nil {
			resp.Body.Close()
			break
		}
		select {
		case r := <-done:
			stopped = true
			t.Fatalf("demo ended before it was up: exit %d\n%s\n%s", r.code, r.out, r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the demo's redirector never answered")
		}
		time.Sleep(50 * time.Millisecond)
	}
	ports := map[string]string{} // mirror name → its host:port, from the store
	db := "sqlite:" + filepath.Join(keep, "mirrorkit.db")
	for _, name := range []string{"frankfurt", "ashburn", "tokyo", "saopaulo"} {
		out := c.ok("--db", db, "mirror", "show", name)
		i := strings.Index(out, "http://127.0.0.1:")
		if i < 0 {
			t.Fatalf("mirror %s has no loopback URL:\n%s", name, out)
		}
		ports[name] = strings.Fields(out[i+len("http://"):])[0]
	}
	to := func(resp *http.Response) string {
		for name, hp := range ports {
			if strings.HasPrefix(resp.Header.Get("Location"), "http://"+hp) {
				return name
			}
		}
		return resp.Status + " " + resp.Header.Get("Location")
	}
	iso := "/releases/41/iso/Demo-41-x86_64.iso"
	for from, want := range map[string]string{"192.0.2.10": "frankfurt", "198.51.100.10": "ashburn", "203.0.113.10": "tokyo"} {
		if got := to(get(iso, from)); got != want {
			t.Errorf("%s from %s went to %s, want %s", iso, from, got, want)
		}
	}
	// São Paulo is one sync behind: Rio never gets it for the changed ISO,
	// though it is the nearest.
	for range 20 {
		if got := to(get(iso, "10.1.2.3")); got == "saopaulo" || !strings.Contains("frankfurt ashburn tokyo", got) {
			t.Fatalf("the changed ISO from Rio went to %s", got)
		}
	}
	// Tokyo carries only releases/: Osaka gets the repository elsewhere.
	if got := to(get("/repo/x86_64/Packages/demo-tools-1.1-1.x86_64.rpm", "203.0.113.10")); got == "tokyo" || !strings.Contains("frankfurt ashburn", got) {
		t.Fatalf("a repository package from Osaka went to %s", got)
	}
	if r := get("/repo/x86_64/repodata/repomd.xml", ""); r.StatusCode != http.StatusOK {
		t.Fatalf("repository metadata from the origin: %d", r.StatusCode)
	}
	if r := get("/releases/42/iso/Demo-42-x86_64.iso", ""); r.StatusCode != http.StatusNotFound {
		t.Fatalf("the staged release: %d", r.StatusCode)
	}

	// The public pages and the API show the network.
	for path, want := range map[string]string{"/mirrors/": "frankfurt", "/mirrors/map.svg": "<svg", "/api/v1/mirrors": `"saopaulo"`,
		// A mirror's page has its scans with their lag and its probes.
		"/mirrors/saopaulo": `<td data-label="Lag">`, "/mirrors/frankfurt": "probes answered since",
		"/api/v1/mirrors/tokyo": `"probe_history": [`,
		// Directory indexes link each file's page, which links the
		// mirrors' pages and says why Sao Paulo is left out.
		"/releases/41/iso/": `href="Demo-41-x86_64.iso?mirrorlist"`,
		"/releases/41/iso/Demo-41-x86_64.iso?mirrorlist": `<a href="/mirrors/saopaulo">saopaulo</a> (BR): `} {
		// Probe history fills in as the first round ends: wait for it.
		var code int
		var body []byte
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			resp, err := http.Get("http://" + listen + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			code = resp.StatusCode
			if code == http.StatusOK && strings.Contains(string(body), want) || time.Now().After(deadline) {
				break
			}
		}
		if code != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d, lacks %q:\n%s", path, code, want, body)
		}
	}

	stop()
	if res.code != 0 || !strings.Contains(res.out, "Press Ctrl-C") || !strings.Contains(res.out, "nothing left running") {
		t.Fatalf("demo: exit %d\n%s\n%s", res.code, res.out, res.err)
	}
	for _, pid := range testutil.ChildPIDs(os.Getpid()) {
		if stat, ok := testutil.ProcStat(pid); ok && testutil.ProcessAlive(pid) {
			t.Errorf("left running after the demo: pid %d %v", pid, stat)
		}
	}
	if _, err := http.Get("http://" + listen + "/"); err == nil {
		t.Fatal("the redirector still answers after the demo stopped")
	}
	if r := c.run("demo", "--keep", keep); r.code != exitUsage {
		t.Fatalf("demo into a used directory: exit %d", r.code)
	}
}
