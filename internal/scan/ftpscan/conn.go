package ftpscan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"sync"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/mirrorkit/mirrorkit/internal/scan"
)

// errListingTooLarge stops a data connection that sends more than
// Options.MaxListingBytes for one directory.
var errListingTooLarge = errors.New("directory listing too large")

// session is one logged-in control connection and the data connections it
// opens. ftp.ServerConn is not safe for concurrent use; only the abort path
// (context cancellation) runs on another goroutine, and it only closes
// sockets, under mu.
type session struct {
	c       *ftp.ServerConn
	timeout time.Duration
	stop    func() bool // unregisters the context's abort

	mu      sync.Mutex
	ctl     net.Conn
	data    net.Conn
	sink    *sink // the data connection's bytes go here while set
	aborted bool

	// replies records what the control connection reads during a listing,
	// for the final reply's text, which the library drops. Only the scan's
	// goroutine touches it.
	replies   []byte
	recording bool
}

func (s *session) tapControl(p []byte) {
	if s.recording && len(s.replies) < maxReplyBytes {
		s.replies = append(s.replies, p...)
	}
}

// maxReplyBytes bounds what is kept of the replies to one listing command.
const maxReplyBytes = 64 << 10

// sink keeps a data connection's bytes, up to max.
type sink struct {
	buf  []byte
	max  int64
	over bool
}

func (s *sink) write(p []byte) bool {
	if int64(len(s.buf))+int64(len(p)) > s.max {
		s.over = true
		return false
	}
	s.buf = append(s.buf, p...)
	return true
}

// deadlineConn bounds every read and write by the scan's inactivity timeout:
// a server that stops sending mid-listing fails the listing instead of
// hanging it.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
	sink    *sink
	onData  func(n int)
	tap     func([]byte) // control connection only
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if c.tap != nil && n > 0 {
		c.tap(p[:n])
	}
	if c.sink != nil && n > 0 {
		if !c.sink.write(p[:n]) {
			return n, errListingTooLarge
		}
		if c.onData != nil {
			c.onData(n)
		}
	}
	return n, err
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// dial connects and logs in. Failures to connect (refused, timeout, no
// greeting) are scan.ErrUnreachable; a refused login is scan.ErrAuth.
func (o *Options) dial(ctx context.Context, b base, timeout time.Duration) (*session, error) {
	s := &session{timeout: timeout}
	s.stop = context.AfterFunc(ctx, s.abort)
	dial := func(network, addr string) (net.Conn, error) {
		s.mu.Lock()
		isData := s.ctl != nil
		s.mu.Unlock()
		dialer := net.Dialer{Timeout: timeout}
		if isData {
			dialer.Control = o.dataControl
		}
		nc, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c := &deadlineConn{Conn: nc, timeout: timeout}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.aborted {
			nc.Close()
			return nil, net.ErrClosed
		}
		if s.ctl == nil {
			c.tap, s.ctl = s.tapControl, c
		} else {
			// One data connection at a time: the previous one is done.
			c.sink, c.onData, s.data = s.sink, o.onData, c
		}
		return c, nil
	}
	opts := []ftp.DialOption{
		// The dial function applies the timeout to data connections as well
		// and puts deadlines on every read; DialWithTimeout and
		// DialWithContext only cover the control connection's connect.
		ftp.DialWithDialFunc(dial),
		// Data connections go to the control connection's address, whatever
		// PASV says (the library's default; stated because it matters: a
		// hostile PASV answer must not point us elsewhere).
		ftp.DialWithTrustPasvIP(false),
	}
	if o.ForceLIST {
		// "LIST -a": servers hide dot files from a bare LIST (pure-ftpd
		// does), MLSD shows them; the two modes should agree.
		opts = append(opts, ftp.DialWithDisabledMLSD(true), ftp.DialWithForceListHidden(true))
	}
	c, err := ftp.Dial(b.addr, opts...)
	if err != nil {
		s.close()
		return nil, s.wrap(ctx, scan.ErrUnreachable, fmt.Sprintf("connect to %s", b.addr), err)
	}
	s.c = c
	user, pass := b.user, o.anonymousPassword()
	if user == "" {
		user = "anonymous"
	} else {
		pass = b.password
	}
	if err := c.Login(user, pass); err != nil {
		s.close()
		kind := scan.ErrAuth
		var tp *textproto.Error
		switch {
		case errors.As(err, &tp) && tp.Code == ftp.StatusNotAvailable:
			kind = scan.ErrUnreachable // 421: too many users, shutting down
		case errors.As(err, &tp):
		case isNetErr(err):
			kind = scan.ErrUnreachable
		}
		// jlaffaye returns a refused USER (530 "no anonymous login") as a
		// plain error with the server's message; that is a refusal too.
		return nil, s.wrap(ctx, kind, fmt.Sprintf("login to %s as %q", b.addr, user), err)
	}
	return s, nil
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// wrap adds kind and what was being done to err; when the context ended the
// scan, it says so (errors.Is finds ctx.Err()) instead of blaming the mirror
// for the closed sockets.
func (s *session) wrap(ctx context.Context, kind error, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %s: %w", kind, what, context.Cause(ctx))
	}
	return fmt.Errorf("%w: %s: %w", kind, what, err)
}

// abort closes the sockets so that any blocked read returns at once.
func (s *session) abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.aborted = true
	for _, c := range []net.Conn{s.ctl, s.data} {
		if c != nil {
			c.Close()
		}
	}
}

// close says goodbye when the connection still works and frees everything.
func (s *session) close() {
	s.stop()
	if s.c != nil {
		_ = s.c.Quit() // QUIT is a courtesy; the mirror may already be gone
	}
	s.abort()
}

// setSink starts (or, with nil, stops) recording the next data connection.
func (s *session) setSink(k *sink) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sink = k
}
