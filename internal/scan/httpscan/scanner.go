package httpscan

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/scan"
)

// Defaults for Options' zero values.
const (
	DefaultConcurrency       = 4
	DefaultRequestsPerSecond = 20
	DefaultMaxPageBytes      = 32 << 20
	DefaultMaxDepth          = 64
)

// acceptListing asks servers that negotiate (nginx does not: its format is
// fixed by autoindex_format) for a machine-readable index.
const acceptListing = "application/json, text/html;q=0.9, */*;q=0.5"

// Options configure a Scanner. Zero values take the defaults.
type Options struct {
	// Client sends every request. The default has dial and TLS handshake
	// timeouts and keeps connections alive; Target.Timeout additionally
	// bounds each request's inactivity (no bytes for that long) whatever
	// the client.
	Client *http.Client
	// Protocol is what Protocol reports: registry.HTTP (default) or
	// registry.HTTPS. The scanner itself handles both schemes.
	Protocol registry.Protocol
	// Concurrency is how many index pages one scan fetches at once.
	Concurrency int
	// RequestsPerSecond limits requests to one mirror host, shared by all
	// scans, reads and verifications of this Scanner; negative: no limit.
	RequestsPerSecond float64
	// MaxPageBytes bounds one index page; a larger one is a bad listing.
	MaxPageBytes int64
	// MaxDepth bounds directory nesting. Servers follow symlinks, so a
	// link to "." makes an endless tree; past this depth the scan fails.
	MaxDepth int
}

// Scanner scans mirrors over HTTP(S). It is safe for concurrent use.
type Scanner struct {
	opts   Options
	client *http.Client

	mu      sync.Mutex
	buckets map[string]*bucket // per host:port; mirrors are few, so it is never pruned
}

var _ scan.Scanner = (*Scanner)(nil)

// New returns a Scanner.
func New(opts Options) *Scanner {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.RequestsPerSecond == 0 {
		opts.RequestsPerSecond = DefaultRequestsPerSecond
	}
	if opts.MaxPageBytes <= 0 {
		opts.MaxPageBytes = DefaultMaxPageBytes
	}
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = DefaultMaxDepth
	}
	if opts.Protocol == "" {
		opts.Protocol = registry.HTTP
	}
	client := opts.Client
	if client == nil {
		client = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   opts.Concurrency,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   15 * time.Second,
			ExpectContinueTimeout: time.Second,
		}}
	}
	return &Scanner{opts: opts, client: client, buckets: map[string]*bucket{}}
}

// Protocol reports Options.Protocol.
func (s *Scanner) Protocol() registry.Protocol { return s.opts.Protocol }

func (s *Scanner) bucket(u *url.URL) *bucket {
	key := strings.ToLower(u.Hostname()) + ":" + port(u)
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[key]
	if !ok {
		b = newBucket(s.opts.RequestsPerSecond, s.opts.Concurrency)
		s.buckets[key] = b
	}
	return b
}

// listing is one directory's page, parsed.
type listing struct {
	entries []scan.Entry
	err     error
}

// Scan crawls the index pages under t.URL (only the directories on the way to
// and under t.Prefixes, when given) and emits every entry it sees. emit is
// called from one goroutine at a time.
func (s *Scanner) Scan(ctx context.Context, t scan.Target, emit func(scan.Entry) error) error {
	m, err := s.mirror(t)
	if err != nil {
		return err
	}
	for _, p := range t.Prefixes {
		if c, err := scan.CleanPath(p); err != nil || c == "/" || c+"/" != p {
			return fmt.Errorf("httpscan: prefix %q is not a clean, slash-led, slash-ended path", p)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	work := make(chan string)
	results := make(chan listing)
	var wg sync.WaitGroup
	for range s.opts.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range work {
				es, err := s.list(ctx, m, d)
				results <- listing{entries: es, err: err}
			}
		}()
	}
	defer func() {
		close(work)
		wg.Wait()
	}()

	// The queue is a stack: depth first keeps it as short as the tree is
	// deep times its width, not as long as a whole level.
	queue := []string{"/"}
	inflight := 0
	var first error
	fail := func(err error) {
		if first == nil {
			first = err
			cancel()
		}
	}
	for (first == nil && len(queue) > 0) || inflight > 0 {
		var send chan string
		var next string
		if first == nil && len(queue) > 0 {
			send, next = work, queue[len(queue)-1]
		}
		select {
		case send <- next:
			queue = queue[:len(queue)-1]
			inflight++
		case r := <-results:
			inflight--
			if first != nil {
				continue
			}
			if r.err != nil {
				fail(r.err)
				continue
			}
			for _, e := range r.entries {
				if !scan.Under(e.Path, t.Prefixes) {
					continue
				}
				if err := emit(e); err != nil {
					fail(err)
					break
				}
				if e.Type == scan.Dir {
					if depth := strings.Count(e.Path, "/"); depth > s.opts.MaxDepth {
						fail(fmt.Errorf("%w: %s is deeper than %d directories (a symlink loop?)", scan.ErrBadListing, e.Path, s.opts.MaxDepth))
						break
					}
					queue = append(queue, e.Path)
				}
			}
		}
	}
	return first
}

// list fetches and parses one directory's page. A directory the mirror does
// not let us read (401, 403) is what a public client sees of staged content:
// no entries, no error. Only the base's refusal is an error.
func (s *Scanner) list(ctx context.Context, m *mirror, p string) ([]scan.Entry, error) {
	u, err := m.urlFor(p, true)
	if err != nil {
		return nil, fmt.Errorf("%w: URL for %q: %v", scan.ErrBadListing, p, err)
	}
	resp, err := m.do(ctx, http.MethodGet, u, acceptListing)
	if err != nil {
		return nil, err
	}
	defer resp.Close()
	isBase := p == "/"
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		if isBase {
			return nil, fmt.Errorf("%w: GET %s: %s", scan.ErrAuth, u.Redacted(), resp.Status)
		}
		return nil, nil
	case isBase && code >= 500:
		return nil, fmt.Errorf("%w: GET %s: %s", scan.ErrUnreachable, u.Redacted(), resp.Status)
	case isBase:
		return nil, fmt.Errorf("%w: GET %s: %s", scan.ErrBadListing, u.Redacted(), resp.Status)
	default:
		// 404 for a directory the parent just listed: the tree changed
		// under the scan. 5xx: the mirror failed. Either way the crawl is
		// incomplete.
		return nil, fmt.Errorf("%w: GET %s: %s", scan.ErrTruncated, u.Redacted(), resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.opts.MaxPageBytes+1))
	if err != nil {
		return nil, m.readErr(ctx, resp, err)
	}
	if int64(len(body)) > s.opts.MaxPageBytes {
		return nil, fmt.Errorf("%w: GET %s: index page larger than %d bytes", scan.ErrBadListing, u.Redacted(), s.opts.MaxPageBytes)
	}
	parse, _, err := sniff(resp.Header.Get("Content-Type"), body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	es, err := parse(body, dir{url: resp.Request.URL, path: p})
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	return es, nil
}

// ReadFile fetches the file at the clean, slash-led path p, at most max
// bytes: a longer file is scan.ErrTruncated, not a silently cut one (a trace
// file cut short would parse as a different one). A missing file is
// fs.ErrNotExist.
func (s *Scanner) ReadFile(ctx context.Context, t scan.Target, p string, max int64) ([]byte, error) {
	m, err := s.mirror(t)
	if err != nil {
		return nil, err
	}
	if c, err := scan.CleanPath(p); err != nil || c != p || p == "/" {
		return nil, fmt.Errorf("httpscan: read %q: not a clean file path", p)
	}
	if max < 0 {
		return nil, fmt.Errorf("httpscan: read %q: negative max %d", p, max)
	}
	u, err := m.urlFor(p, false)
	if err != nil {
		return nil, fmt.Errorf("httpscan: read %q: %w", p, err)
	}
	resp, err := m.do(ctx, http.MethodGet, u, "")
	if err != nil {
		return nil, err
	}
	defer resp.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusGone:
		return nil, fmt.Errorf("httpscan: GET %s: %s: %w", u.Redacted(), resp.Status, fs.ErrNotExist)
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, fmt.Errorf("%w: GET %s: %s", scan.ErrAuth, u.Redacted(), resp.Status)
	default:
		return nil, fmt.Errorf("httpscan: GET %s: %s", u.Redacted(), resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, m.readErr(ctx, resp, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: GET %s: larger than %d bytes", scan.ErrTruncated, u.Redacted(), max)
	}
	return b, nil
}

// Verify checks catalog files one by one with HEAD, for mirrors without index
// pages: each path that exists is emitted as a File with the Content-Length
// (-1 when the server sends none) and Last-Modified (second precision; zero
// and Precision 0 when absent). A 404 or 410 is a missing file and is not
// emitted; any other failure fails the run. emit is called from one goroutine
// at a time.
func (s *Scanner) Verify(ctx context.Context, t scan.Target, paths []string, emit func(scan.Entry) error) error {
	m, err := s.mirror(t)
	if err != nil {
		return err
	}
	for _, p := range paths {
		if c, err := scan.CleanPath(p); err != nil || c != p || p == "/" {
			return fmt.Errorf("httpscan: verify %q: not a clean file path", p)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type result struct {
		e      scan.Entry
		exists bool
		err    error
	}
	work := make(chan string)
	results := make(chan result)
	var wg sync.WaitGroup
	for range min(s.opts.Concurrency, max(len(paths), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				e, exists, err := s.head(ctx, m, p)
				results <- result{e, exists, err}
			}
		}()
	}
	defer func() {
		close(work)
		wg.Wait()
	}()
	var first error
	next, inflight := 0, 0
	for (first == nil && next < len(paths)) || inflight > 0 {
		var send chan string
		var p string
		if first == nil && next < len(paths) {
			send, p = work, paths[next]
		}
		select {
		case send <- p:
			next++
			inflight++
		case r := <-results:
			inflight--
			switch {
			case first != nil:
			case r.err != nil:
				first = r.err
				cancel()
			case r.exists:
				if err := emit(r.e); err != nil {
					first = err
					cancel()
				}
			}
		}
	}
	return first
}

func (s *Scanner) head(ctx context.Context, m *mirror, p string) (scan.Entry, bool, error) {
	u, err := m.urlFor(p, false)
	if err != nil {
		return scan.Entry{}, false, fmt.Errorf("httpscan: verify %q: %w", p, err)
	}
	resp, err := m.do(ctx, http.MethodHead, u, "")
	if err != nil {
		return scan.Entry{}, false, err
	}
	defer resp.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusGone:
		return scan.Entry{}, false, nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return scan.Entry{}, false, fmt.Errorf("%w: HEAD %s: %s", scan.ErrAuth, u.Redacted(), resp.Status)
	default:
		return scan.Entry{}, false, fmt.Errorf("%w: HEAD %s: %s", scan.ErrTruncated, u.Redacted(), resp.Status)
	}
	e := scan.Entry{Path: p, Type: scan.File, Size: resp.ContentLength}
	if lm := resp.Header.Get("Last-Modified"); lm != "" {
		t, err := http.ParseTime(lm)
		if err != nil {
			return scan.Entry{}, false, fmt.Errorf("%w: HEAD %s: Last-Modified %q: %v", scan.ErrBadListing, u.Redacted(), lm, err)
		}
		e.ModTime, e.Precision = t.UTC(), time.Second
	}
	return e, true, nil
}
