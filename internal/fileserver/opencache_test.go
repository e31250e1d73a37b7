package fileserver

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// What stops being public, is replaced or is deleted is served from the
// caches for at most the TTL, then no more; with the caches off, at once.
// What becomes public or appears is served at once either way (nothing is
// cached negatively).
func TestOpenCacheFreshness(t *testing.T) {
	for _, ttl := range []time.Duration{0, 200 * time.Millisecond} {
		for _, change := range []string{"dir-staged", "file-staged", "replaced", "deleted"} {
			t.Run(fmt.Sprint(ttl, "/", change), func(t *testing.T) {
				root := t.TempDir()
				want := pattern(1000)
				dir := filepath.Join(root, "rel", "42")
				file := filepath.Join(dir, "x.iso")
				writeFile(t, file, want, 0o644)
				cfg := DefaultConfig(root)
				cfg.OpenCacheTTL = ttl
				ts := start(t, cfg)
				u := ts.URL + "/rel/42/x.iso"
				if resp, body := get(t, "GET", u); resp.StatusCode != 200 || !bytes.Equal(body, want) {
					t.Fatalf("public: %d", resp.StatusCode)
				}
				next := pattern(1001)
				var err error
				switch change {
				case "dir-staged":
					err = os.Chmod(dir, 0o750)
				case "file-staged":
					err = os.Chmod(file, 0o640)
				case "replaced":
					tmp := filepath.Join(dir, ".x.iso.tmp")
					writeFile(t, tmp, next, 0o644)
					err = os.Rename(tmp, file)
				case "deleted":
					err = os.Remove(file)
				}
				if err != nil {
					t.Fatal(err)
				}
				changed := time.Now()
				done := func(code int, body []byte) bool {
					if change == "replaced" {
						return code == 200 && bytes.Equal(body, next)
					}
					return code == http.StatusNotFound
				}
				for {
					resp, body := get(t, "GET", u)
					if done(resp.StatusCode, body) {
						break
					}
					if resp.StatusCode != 200 || !bytes.Equal(body, want) {
						t.Fatalf("neither the old answer nor the new one: %d, %d bytes", resp.StatusCode, len(body))
					}
					if ttl == 0 {
						t.Fatal("with the caches off, the old answer came after the change")
					}
					if time.Since(changed) > ttl+5*time.Second {
						t.Fatalf("the old answer still comes %v after the change (TTL %v)", time.Since(changed), ttl)
					}
					time.Sleep(10 * time.Millisecond)
				}
				// Public again, or a new file: served at once.
				os.Chmod(dir, 0o755)
				writeFile(t, file, next, 0o644)
				writeFile(t, filepath.Join(dir, "new.iso"), next, 0o644)
				for _, p := range []string{"/rel/42/x.iso", "/rel/42/new.iso"} {
					if resp, body := get(t, "GET", ts.URL+p); resp.StatusCode != 200 || !bytes.Equal(body, next) {
						t.Fatalf("%s is not served at once: %d", p, resp.StatusCode)
					}
				}
			})
		}
	}
}

// The file cache holds at most its byte bound, and an entry replaced or
// expired gives its bytes back.
func TestFileCacheBound(t *testing.T) {
	c := newFileCache(time.Second, 3000)
	now := time.Now()
	for i := range 10 {
		c.put(fmt.Sprint(i), make([]byte, 1000), nil, now)
		if c.bytes > 3000 || len(c.m) > 3 {
			t.Fatalf("after %d puts: %d bytes in %d entries", i+1, c.bytes, len(c.m))
		}
	}
	c.put("9", make([]byte, 500), nil, now)
	sum := 0
	for _, f := range c.m {
		sum += len(f.data)
	}
	if sum != c.bytes {
		t.Fatalf("accounted %d bytes, holds %d", c.bytes, sum)
	}
	if c.get("9", now.Add(2*time.Second)) != nil || c.m["9"] != nil {
		t.Fatal("an expired file was returned or kept")
	}
	c.put("big", make([]byte, 4000), nil, now)
	if c.m["big"] != nil {
		t.Fatal("a file over the whole bound was cached")
	}
}

// Entries are closed once evicted and let go, never while a request holds
// them, and the cache never holds more than its bound.
func TestDirCacheRefsAndBound(t *testing.T) {
	root := t.TempDir()
	for i := range 3 {
		writeFile(t, filepath.Join(root, fmt.Sprint(i), "f"), []byte("x"), 0o644)
	}
	base, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	c := newDirCache(time.Second, 2)
	now := time.Now()
	open := func(i int) *cachedDir {
		r, err := base.OpenRoot(fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := r.Stat(".")
		return c.put(fmt.Sprint(i), r, fi, now)
	}
	d0 := open(0) // held by a request
	c.release(open(1))
	c.release(open(2)) // full: something was dropped
	if n := len(c.m); n > 2 {
		t.Fatalf("%d entries over a bound of 2", n)
	}
	// Whether or not "0" was dropped, the request holding it can still use it.
	if _, err := d0.root.Stat("f"); err != nil {
		t.Fatalf("a held entry was closed: %v", err)
	}
	c.release(d0)
	if got := c.get("2", now.Add(2*time.Second)); got != nil {
		t.Fatal("an expired entry was returned")
	}
	c.close()
	if len(c.m) != 0 {
		t.Fatal("close left entries")
	}
	if _, err := d0.root.Stat("f"); err == nil {
		t.Fatal("an evicted, released entry is still open")
	}
}

// Many requests into a few directories while entries expire under them:
// every one succeeds, and no descriptor is left behind.
func TestDirCacheConcurrent(t *testing.T) {
	root := t.TempDir()
	want := pattern(2048)
	for i := range 4 {
		writeFile(t, filepath.Join(root, "d", fmt.Sprint(i), "f.bin"), want, 0o644)
	}
	cfg := DefaultConfig(root)
	cfg.OpenCacheTTL = time.Millisecond
	cfg.MaxConnsPerIP = 0
	ts := start(t, cfg)
	fds := func() int { e, _ := os.ReadDir("/proc/self/fd"); return len(e) }
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				resp, err := http.Get(fmt.Sprintf("%s/d/%d/f.bin", ts.URL, (g+i)%4))
				if err != nil {
					errs <- err
					return
				}
				var b bytes.Buffer
				b.ReadFrom(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !bytes.Equal(b.Bytes(), want) {
					errs <- fmt.Errorf("status %d, %d bytes", resp.StatusCode, b.Len())
					return
				}
			}
		}()
	}
	before := fds()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Expired entries are dropped as they are met: after the TTL, one
	// request per directory leaves at most the live ones open.
	time.Sleep(5 * time.Millisecond)
	for i := range 4 {
		get(t, "GET", fmt.Sprintf("%s/d/%d/f.bin", ts.URL, i))
	}
	ts.dirs.mu.Lock()
	n := len(ts.dirs.m)
	ts.dirs.mu.Unlock()
	if n > 5 {
		t.Fatalf("%d cached directories for 5 walked", n)
	}
	if after := fds(); after > before+16 {
		t.Fatalf("descriptors grew from %d to %d", before, after)
	}
}

// The plain path for small files answers exactly as http.ServeContent
// does: the same status, headers (but Date) and body, for plain requests
// and for every kind that ServeContent keeps answering.
func TestSmallFilePlainPathMatchesServeContent(t *testing.T) {
	root, _ := contentTree(t)
	writeFile(t, filepath.Join(root, "epoch.bin"), []byte("old"), 0o644)
	epoch := time.Unix(0, 0)
	if err := os.Chtimes(filepath.Join(root, "epoch.bin"), epoch, epoch); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig(root)
	cfg.NoRange = []string{"*.db"}
	fast := start(t, cfg)
	ref := start(t, cfg, func(s *Server) { s.serveContentAlways = true })
	paths := []string{"/README.txt", "/repo/repodata/repomd.xml", "/arch/core.db", "/debian/dists/stable/InRelease", "/epoch.bin"}
	variants := []map[string]string{
		nil,
		{"Range": "bytes=0-9"},
		{"Range": "bytes=0-1,4-5"},
		{"If-None-Match": "*"},
		{"If-Modified-Since": "Sat, 01 Jan 2050 00:00:00 GMT"},
		{"If-Range": `"nope"`, "Range": "bytes=0-1"},
	}
	answer := func(base, method, p string, hdr map[string]string) (int, http.Header, []byte) {
		req, err := http.NewRequest(method, base+p, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Header.Del("Date")
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/") {
			// The boundary is random; the parts are compared below.
			resp.Header.Del("Content-Type")
			return resp.StatusCode, resp.Header, nil
		}
		return resp.StatusCode, resp.Header, b.Bytes()
	}
	for _, p := range paths {
		for _, m := range []string{"GET", "HEAD"} {
			for _, hdr := range variants {
				for range 2 { // uncached, then from the file cache
					fc, fh, fb := answer(fast.URL, m, p, hdr)
					rc, rh, rb := answer(ref.URL, m, p, hdr)
					if fc != rc || !reflect.DeepEqual(fh, rh) || !bytes.Equal(fb, rb) {
						t.Errorf("%s %s %v:\n plain path %d %v (%d bytes)\n ServeContent %d %v (%d bytes)", m, p, hdr, fc, fh, len(fb), rc, rh, len(rb))
					}
				}
			}
		}
	}
}
