package httpscan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/scan"
)

// maxRedirects bounds a redirect chain.
const maxRedirects = 5

// defaultTimeout applies when a Target has none.
const defaultTimeout = time.Minute

var (
	errOffHost      = errors.New("redirect to another host")
	errTooRedirects = errors.New("too many redirects")
	errIdle         = errors.New("no I/O within the timeout")
)

// mirror is one scan's (or ReadFile's, or Verify's) view of a target: its base
// URL, the client with the redirect policy, the host's rate limiter.
type mirror struct {
	base     *url.URL
	client   *http.Client
	limit    *bucket
	timeout  time.Duration
	answered atomic.Bool // a response arrived: later network errors truncate, not "unreachable"
}

func (s *Scanner) mirror(t scan.Target) (*mirror, error) {
	base, err := url.Parse(t.URL)
	if err != nil {
		return nil, fmt.Errorf("httpscan: base URL %q: %w", t.URL, err)
	}
	if (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || base.Opaque != "" ||
		!strings.HasSuffix(base.Path, "/") || base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("httpscan: base URL %q is not http(s)://host/path/", t.URL)
	}
	m := &mirror{base: base, limit: s.bucket(base), timeout: t.Timeout}
	if m.timeout <= 0 {
		m.timeout = defaultTimeout
	}
	// A shallow copy shares the Transport, so connections are still reused
	// across scans; only the redirect policy is ours.
	c := *s.client
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return fmt.Errorf("%w (%d)", errTooRedirects, len(via))
		}
		if !strings.EqualFold(req.URL.Hostname(), base.Hostname()) || (req.URL.Scheme != "http" && req.URL.Scheme != "https") {
			return fmt.Errorf("%w: %s", errOffHost, req.URL.Redacted())
		}
		return m.limit.wait(req.Context())
	}
	m.client = &c
	return m, nil
}

// urlFor is the URL of the clean, slash-led catalog path p (a directory when
// dir is true). It is built by appending to the base's string, since a
// relative reference would read a first segment like "a:b" as a scheme.
func (m *mirror) urlFor(p string, dir bool) (*url.URL, error) {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(m.base.String(), "/"))
	for _, s := range segs {
		if s == "" {
			continue
		}
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	if dir || p == "/" {
		b.WriteByte('/')
	}
	return url.Parse(b.String())
}

// response is an answered request. Body reads reset the inactivity timer;
// Close must be called.
type response struct {
	*http.Response
	cancel context.CancelCauseFunc
	timer  *time.Timer
}

func (r *response) Close() {
	// Drain a little so the connection goes back to the pool; an unread
	// error page must not cost a new TCP connection.
	_, _ = io.CopyN(io.Discard, r.Body, 64<<10)
	r.Body.Close()
	r.timer.Stop()
	r.cancel(nil)
}

// idleBody extends the request's deadline on every read: the timeout bounds
// inactivity, not the whole transfer of a large page.
type idleBody struct {
	io.ReadCloser
	timer   *time.Timer
	timeout time.Duration
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.timer.Reset(b.timeout)
	}
	return n, err
}

// do sends one rate-limited request. Errors are classified: a network error
// before any answer from the mirror is scan.ErrUnreachable, after one
// scan.ErrTruncated; a redirect off the host is scan.ErrBadListing. A
// cancelled ctx returns ctx's error.
func (m *mirror) do(ctx context.Context, method string, u *url.URL, accept string) (*response, error) {
	if err := m.limit.wait(ctx); err != nil {
		return nil, fmt.Errorf("httpscan: %s %s: waiting for the rate limit: %w", method, u.Redacted(), err)
	}
	rctx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(m.timeout, func() { cancel(errIdle) })
	req, err := http.NewRequestWithContext(rctx, method, u.String(), nil)
	if err != nil {
		timer.Stop()
		cancel(nil)
		return nil, fmt.Errorf("httpscan: %s %s: %w", method, u.Redacted(), err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.Header.Set("User-Agent", "mirrorkit-scan")
	resp, err := m.client.Do(req)
	if err != nil {
		timer.Stop()
		cause := context.Cause(rctx)
		cancel(nil)
		return nil, m.classify(ctx, method, u, err, cause)
	}
	m.answered.Store(true)
	timer.Reset(m.timeout)
	resp.Body = &idleBody{ReadCloser: resp.Body, timer: timer, timeout: m.timeout}
	return &response{Response: resp, cancel: cancel, timer: timer}, nil
}

// readErr classifies an error while reading a body.
func (m *mirror) readErr(ctx context.Context, r *response, err error) error {
	return m.classify(ctx, r.Request.Method, r.Request.URL, err, context.Cause(r.Request.Context()))
}

func (m *mirror) classify(ctx context.Context, method string, u *url.URL, err, cause error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("httpscan: %s %s: %w", method, u.Redacted(), context.Cause(ctx))
	}
	if errors.Is(cause, errIdle) {
		err = fmt.Errorf("%w (%v)", errIdle, m.timeout)
	}
	kind := scan.ErrTruncated
	switch {
	case errors.Is(err, errOffHost) || errors.Is(err, errTooRedirects):
		kind = scan.ErrBadListing
	case !m.answered.Load():
		kind = scan.ErrUnreachable
	}
	return fmt.Errorf("%w: %s %s: %w", kind, method, u.Redacted(), err)
}

// bucket is a token bucket: rate tokens a second, at most burst saved up. A
// nil bucket does not limit.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int) *bucket {
	if rate <= 0 {
		return nil
	}
	b := float64(max(burst, 1))
	return &bucket{rate: rate, burst: b, tokens: b, last: time.Now()}
}

// wait takes a token, sleeping until one is there. Tokens are taken in
// arrival order (a waiter reserves its token before sleeping), so concurrent
// callers cannot starve each other.
func (b *bucket) wait(ctx context.Context) error {
	if b == nil {
		return ctx.Err()
	}
	b.mu.Lock()
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens--
	var d time.Duration
	if b.tokens < 0 {
		d = time.Duration(-b.tokens / b.rate * float64(time.Second))
	}
	b.mu.Unlock()
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		b.tokens++ // unused: give it back
		b.mu.Unlock()
		return ctx.Err()
	}
}
