package ftpscan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/textproto"
	"net/url"
	"path"
	"syscall"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/scan"
)

// Defaults for the zero Options.
const (
	DefaultTimeout           = 60 * time.Second
	DefaultMaxDepth          = 64
	DefaultMaxListingBytes   = 256 << 20
	DefaultAnonymousPassword = "mirrorkit@"
)

// Options configure a Scanner. The zero value is ready to use.
type Options struct {
	// ForceLIST uses LIST even when the server offers MLSD (for servers
	// whose MLSD is broken, and for tests of the LIST path).
	ForceLIST bool
	// Timeout bounds I/O inactivity when the Target sets none.
	Timeout time.Duration
	// MaxDepth bounds how deep the walk goes below the base. LIST has no
	// "unique" fact, so a server that shows a symlink to an ancestor as a
	// directory would otherwise be walked forever; past MaxDepth the scan
	// fails rather than stop short silently.
	MaxDepth int
	// MaxListingBytes bounds one directory's listing.
	MaxListingBytes int64
	// AnonymousPassword is sent as the password of an anonymous login (by
	// convention, an address to contact).
	AnonymousPassword string
	// Now places LIST times shown without a year ("Nov 20 14:05"); nil
	// means time.Now.
	Now func() time.Time

	// onData, when set, runs after each read from a listing's data
	// connection with the bytes read; tests use it to kill the server
	// mid-listing.
	onData func(n int)
	// dataControl, when set, is the net.Dialer Control of data
	// connections; tests use it to shrink the receive buffer, so that the
	// server cannot have sent a whole listing before it is killed.
	dataControl func(network, address string, c syscall.RawConn) error
}

func (o *Options) anonymousPassword() string {
	if o.AnonymousPassword == "" {
		return DefaultAnonymousPassword
	}
	return o.AnonymousPassword
}

// Scanner lists FTP mirrors. It holds no connection between calls and is
// safe for concurrent use.
type Scanner struct {
	opts Options
}

var _ scan.Scanner = (*Scanner)(nil)

// New returns a Scanner.
func New(opts Options) *Scanner {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = DefaultMaxDepth
	}
	if opts.MaxListingBytes <= 0 {
		opts.MaxListingBytes = DefaultMaxListingBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Scanner{opts: opts}
}

// Protocol is registry.FTP.
func (s *Scanner) Protocol() registry.Protocol { return registry.FTP }

// base is a parsed ftp:// base URL.
type base struct {
	addr     string // host:port
	user     string // empty: anonymous
	password string
	dir      string // clean, slash-led path on the server
}

func parseTarget(t scan.Target) (base, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return base{}, fmt.Errorf("ftpscan: base URL: %w", err)
	}
	if u.Scheme != "ftp" || u.Host == "" || u.Opaque != "" {
		return base{}, fmt.Errorf("ftpscan: base URL %q: want ftp://[user@]host[:port]/path/", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return base{}, fmt.Errorf("ftpscan: base URL %q has a query or fragment", u.Redacted())
	}
	b := base{password: t.Password}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			return base{}, fmt.Errorf("ftpscan: base URL %q carries a password; use Target.Password", u.Redacted())
		}
		b.user = u.User.Username()
	}
	port := u.Port()
	if port == "" {
		port = "21"
	}
	b.addr = net.JoinHostPort(u.Hostname(), port)
	b.dir, err = scan.CleanPath(u.Path + "/")
	if err != nil {
		return base{}, fmt.Errorf("ftpscan: base URL path: %w", err)
	}
	return b, nil
}

func (s *Scanner) timeout(t scan.Target) time.Duration {
	if t.Timeout > 0 {
		return t.Timeout
	}
	return s.opts.Timeout
}

// Scan walks the tree breadth-first over one connection; see the package
// documentation.
func (s *Scanner) Scan(ctx context.Context, t scan.Target, emit func(scan.Entry) error) error {
	b, err := parseTarget(t)
	if err != nil {
		return err
	}
	for _, p := range t.Prefixes {
		if c, err := scan.CleanPath(p); err != nil || c+"/" != p {
			return fmt.Errorf("ftpscan: prefix %q is not clean, slash-led and slash-ended", p)
		}
	}
	sess, err := s.opts.dial(ctx, b, s.timeout(t))
	if err != nil {
		return err
	}
	defer sess.close()
	w := walker{
		sess:     sess,
		opts:     &s.opts,
		base:     b,
		now:      s.opts.Now(),
		prefixes: t.Prefixes,
		mlsd:     !s.opts.ForceLIST && sess.c.IsTimePreciseInList(),
		visited:  map[string]bool{},
	}
	return w.walk(ctx, emit)
}

type walker struct {
	sess     *session
	opts     *Options
	base     base
	now      time.Time
	prefixes []string
	mlsd     bool
	visited  map[string]bool // "unique" facts of directories queued so far
}

// errNotListable: the server refused to enter or list a directory (550),
// which is how a non-public directory looks.
var errNotListable = errors.New("directory not listable")

func (w *walker) walk(ctx context.Context, emit func(scan.Entry) error) error {
	type dir struct {
		rel   string
		depth int
	}
	queue := []dir{{rel: "/"}}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		l, err := w.list(ctx, d.rel)
		if errors.Is(err, errNotListable) {
			continue // shown, but not its content: nothing a client can fetch
		}
		if err != nil {
			return err
		}
		if d.rel == "/" && l.self != "" {
			w.visited[l.self] = true
		}
		for _, it := range l.items {
			raw := path.Join(d.rel, it.name)
			p, err := scan.CleanPath(raw)
			if err != nil {
				return fmt.Errorf("ftpscan: listing of %q: %w", d.rel, err)
			}
			if !scan.Under(p, w.prefixes) {
				continue
			}
			e := it.entry
			e.Path = p
			if err := emit(e); err != nil {
				return err
			}
			if e.Type != scan.Dir {
				continue
			}
			if it.unique != "" {
				if w.visited[it.unique] {
					// A directory seen before under another name (a server
					// that follows symlinks): its content is already listed.
					continue
				}
				w.visited[it.unique] = true
			}
			if d.depth+1 > w.opts.MaxDepth {
				return fmt.Errorf("%w: %q is more than %d levels deep (a symlink loop shown as directories?)", scan.ErrBadListing, p, w.opts.MaxDepth)
			}
			queue = append(queue, dir{rel: p, depth: d.depth + 1})
		}
	}
	return nil
}

// list enters the directory rel (relative to the base) and lists it.
func (w *walker) list(ctx context.Context, rel string) (listing, error) {
	remote := path.Join(w.base.dir, rel)
	what := fmt.Sprintf("list %q", remote)
	// refused is a 550 to CWD or to the listing: below the base, a
	// directory the public cannot open; the base itself must be there.
	refused := func(err error) error {
		if rel == "/" {
			return fmt.Errorf("%w: base directory %q: %w (%w)", scan.ErrTruncated, remote, fs.ErrNotExist, err)
		}
		return errNotListable
	}
	if err := w.sess.c.ChangeDir(remote); err != nil {
		if code(err) == ftp.StatusFileUnavailable {
			return listing{}, refused(err)
		}
		return listing{}, w.sess.wrap(ctx, scan.ErrTruncated, what, err)
	}
	k := &sink{max: w.opts.MaxListingBytes}
	w.sess.setSink(k)
	w.sess.replies, w.sess.recording = w.sess.replies[:0], true
	// The library parses the listing too, and drops what it cannot parse;
	// its result is ignored in favour of the raw bytes in k.
	_, err := w.sess.c.List("")
	w.sess.setSink(nil)
	w.sess.recording = false
	switch {
	case k.over:
		return listing{}, fmt.Errorf("%w: %s: more than %d bytes", scan.ErrBadListing, what, w.opts.MaxListingBytes)
	case err != nil && code(err) == ftp.StatusFileUnavailable && len(k.buf) == 0:
		// Refused before sending anything; after some data, a 550 is a
		// listing cut short like any other.
		return listing{}, refused(err)
	case err != nil:
		// A broken data connection, a timeout, a 426 or 451 after it, or
		// the server gone: the listing is incomplete.
		return listing{}, w.sess.wrap(ctx, scan.ErrTruncated, what, err)
	}
	if err := checkReplies(w.sess.replies, len(lines(k.buf))); err != nil {
		return listing{}, fmt.Errorf("%w: %s: %w", scan.ErrTruncated, what, err)
	}
	var l listing
	if w.mlsd {
		l, err = parseMLSD(k.buf)
	} else {
		l, err = parseLIST(k.buf, w.now)
	}
	if err != nil {
		return listing{}, fmt.Errorf("ftpscan: %s: %w", what, err)
	}
	return l, nil
}

// code is the FTP reply code in err, or 0.
func code(err error) int {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return tp.Code
	}
	return 0
}

// ReadFile fetches the file at p (relative to the base) with RETR over a
// connection of its own. A file larger than max is an error wrapping
// scan.ErrTruncated: half a trace file parses as a wrong one.
func (s *Scanner) ReadFile(ctx context.Context, t scan.Target, p string, max int64) ([]byte, error) {
	b, err := parseTarget(t)
	if err != nil {
		return nil, err
	}
	if c, err := scan.CleanPath(p); err != nil || c != p || p == "/" {
		return nil, fmt.Errorf("ftpscan: ReadFile path %q is not a clean, slash-led file path", p)
	}
	if max < 0 {
		return nil, fmt.Errorf("ftpscan: ReadFile %q: negative max %d", p, max)
	}
	sess, err := s.opts.dial(ctx, b, s.timeout(t))
	if err != nil {
		return nil, err
	}
	defer sess.close()
	remote := path.Join(b.dir, p)
	r, err := sess.c.Retr(remote)
	if err != nil {
		if code(err) == ftp.StatusFileUnavailable {
			return nil, fmt.Errorf("ftpscan: RETR %q: %w (%w)", remote, fs.ErrNotExist, err)
		}
		return nil, sess.wrap(ctx, scan.ErrTruncated, fmt.Sprintf("RETR %q", remote), err)
	}
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		_ = r.Close()
		return nil, sess.wrap(ctx, scan.ErrTruncated, fmt.Sprintf("RETR %q", remote), err)
	}
	if int64(len(data)) > max {
		_ = r.Close() // the server reports the abandoned transfer; expected
		return nil, fmt.Errorf("%w: RETR %q: larger than %d bytes", scan.ErrTruncated, remote, max)
	}
	// 226 confirms the whole file was sent; without it the end of data may
	// be a dropped connection.
	if err := r.Close(); err != nil {
		return nil, sess.wrap(ctx, scan.ErrTruncated, fmt.Sprintf("RETR %q", remote), err)
	}
	return data, nil
}
