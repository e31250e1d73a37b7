package fileserver

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// A directory that stops being public is served from the cache for at most
// the TTL, then not at all; with the cache off, at once. One that becomes
// public is served at once either way (nothing is cached negatively).
func TestDirCacheFreshness(t *testing.T) {
	for _, ttl := range []time.Duration{0, 200 * time.Millisecond} {
		t.Run(fmt.Sprint(ttl), func(t *testing.T) {
			root := t.TempDir()
			want := pattern(1000)
			writeFile(t, filepath.Join(root, "rel", "42", "x.iso"), want, 0o644)
			cfg := DefaultConfig(root)
			cfg.DirCacheTTL = ttl
			ts := start(t, cfg)
			u := ts.URL + "/rel/42/x.iso"
			if resp, body := get(t, "GET", u); resp.StatusCode != 200 || !bytes.Equal(body, want) {
				t.Fatalf("public: %d", resp.StatusCode)
			}
			dir := filepath.Join(root, "rel", "42")
			if err := os.Chmod(dir, 0o750); err != nil {
				t.Fatal(err)
			}
			hidden := time.Now()
			deadline := hidden.Add(ttl + 5*time.Second)
			for {
				resp, _ := get(t, "GET", u)
				if resp.StatusCode == http.StatusNotFound {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("a directory made 0750 is still served %v later (TTL %v)", time.Since(hidden), ttl)
				}
				if ttl == 0 {
					t.Fatalf("with the cache off, a directory made 0750 is still served: %d", resp.StatusCode)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if resp, _ := get(t, "GET", u); resp.StatusCode != 200 {
				t.Fatalf("the flipped directory is not served at once: %d", resp.StatusCode)
			}
		})
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
	cfg.DirCacheTTL = time.Millisecond
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
