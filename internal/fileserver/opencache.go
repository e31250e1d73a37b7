package fileserver

import (
	"io/fs"
	"os"
	"sync"
	"time"
)

// dirCacheMax bounds the directory cache: enough for every directory a busy
// mirror's clients walk within a second.
const dirCacheMax = 4096

// dirCache keeps the directories requests walked through open for a short
// time (Config.OpenCacheTTL), so a burst of requests into one directory
// checks and opens it once, not once per request: a download of many small
// files (repository metadata, packages) spends more on the walk than on the
// files. Like nginx's open_file_cache, it trades freshness for syscalls: a
// directory that stops being public, or is renamed, is still served from
// for up to the TTL. Nothing is cached negatively, so a release's bit flip
// is visible at once. Entries are keyed by their real path (symlinks
// resolved), are only created for directories that passed every check, and
// are closed when the last request using them lets go.
type dirCache struct {
	ttl time.Duration
	max int

	mu sync.Mutex
	m  map[string]*cachedDir
}

type cachedDir struct {
	rel     string
	root    *os.Root
	info    fs.FileInfo
	expires time.Time
	// refs and gone are guarded by dirCache.mu: the handle is closed when
	// it is out of the map and no request holds it.
	refs int
	gone bool
}

func newDirCache(ttl time.Duration, max int) *dirCache {
	if ttl <= 0 {
		return nil
	}
	return &dirCache{ttl: ttl, max: max, m: map[string]*cachedDir{}}
}

// get returns the live entry for rel with a reference the caller must
// release, or nil.
func (c *dirCache) get(rel string, now time.Time) *cachedDir {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.m[rel]
	if d == nil {
		return nil
	}
	if now.After(d.expires) {
		c.dropLocked(d)
		return nil
	}
	d.refs++
	return d
}

// put hands an open, checked directory to the cache and returns its entry
// with one reference for the caller. When the cache is off it returns nil
// and the caller keeps (and closes) the handle.
func (c *dirCache) put(rel string, root *os.Root, info fs.FileInfo, now time.Time) *cachedDir {
	if c == nil {
		return nil
	}
	d := &cachedDir{rel: rel, root: root, info: info, expires: now.Add(c.ttl), refs: 1}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[rel]; old != nil {
		c.dropLocked(old)
	}
	if len(c.m) >= c.max {
		// Full: drop what has expired, or else anything, a sweep at a
		// time, so the map never grows past max.
		for _, e := range c.m {
			if now.After(e.expires) || len(c.m) >= c.max {
				c.dropLocked(e)
			}
		}
	}
	c.m[rel] = d
	return d
}

// release gives a reference back.
func (c *dirCache) release(d *cachedDir) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d.refs--
	if d.gone && d.refs == 0 {
		d.root.Close()
	}
}

func (c *dirCache) dropLocked(d *cachedDir) {
	if c.m[d.rel] == d {
		delete(c.m, d.rel)
	}
	if !d.gone {
		d.gone = true
		if d.refs == 0 {
			d.root.Close()
		}
	}
}

// close drops every entry (on shutdown); handles in use close when
// released.
func (c *dirCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range c.m {
		c.dropLocked(d)
	}
}

// fileCache keeps the content of small files recently served, by request
// path, for the same short time as the directories: a busy repository's
// metadata and small packages are then answered without a syscall of ours.
// The same trade as dirCache: a file replaced, deleted or made non-public
// is still served as it was for up to the TTL; nothing is cached
// negatively. It holds at most maxBytes of content.
type fileCache struct {
	ttl      time.Duration
	maxBytes int

	mu    sync.Mutex
	m     map[string]*cachedFile
	bytes int
}

type cachedFile struct {
	data    []byte // never changed once cached: requests share it
	meta    *fileMeta
	expires time.Time
}

// fileCacheBytes bounds the file cache: 1,024 files of 16 KiB.
const fileCacheBytes = 16 << 20

func newFileCache(ttl time.Duration, maxBytes int) *fileCache {
	if ttl <= 0 {
		return nil
	}
	return &fileCache{ttl: ttl, maxBytes: maxBytes, m: map[string]*cachedFile{}}
}

func (c *fileCache) get(p string, now time.Time) *cachedFile {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.m[p]
	if f == nil {
		return nil
	}
	if now.After(f.expires) {
		c.bytes -= len(f.data)
		delete(c.m, p)
		return nil
	}
	return f
}

func (c *fileCache) put(p string, data []byte, meta *fileMeta, now time.Time) {
	if c == nil || len(data) > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[p]; old != nil {
		c.bytes -= len(old.data)
		delete(c.m, p)
	}
	for k, f := range c.m {
		if c.bytes+len(data) <= c.maxBytes {
			break
		}
		if now.After(f.expires) || c.bytes+len(data) > c.maxBytes {
			c.bytes -= len(f.data)
			delete(c.m, k)
		}
	}
	c.m[p] = &cachedFile{data: data, meta: meta, expires: now.Add(c.ttl)}
	c.bytes += len(data)
}
