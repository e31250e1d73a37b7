package fileserver

import (
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// listener wraps every accepted connection in a *conn: the per-IP count and
// the byte counters live there, below TLS, so they see real wire bytes.
type listener struct {
	net.Listener
	s *Server
}

func (l *listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.s.newConn(nc), nil
}

// conn counts the bytes of one client connection and holds its slot in the
// per-IP table until it is closed.
type conn struct {
	net.Conn
	s         *Server
	ip        netip.Addr
	overLimit bool // over the per-IP cap at accept: gets one 503, then closes

	read, written atomic.Int64
	closeOnce     sync.Once

	// HTTP/1 access logging. Requests on one HTTP/1 connection are
	// sequential, so the bytes between two log points belong to one
	// request: what was read up to its handler's start, and what was
	// written up to the moment the server goes idle (or closes) after it.
	mu          sync.Mutex
	readMark    int64
	writtenMark int64
	pending     *record

	// held collects what net/http writes while a handler holds the
	// connection, so a small response leaves in one write: net/http's 4 KiB
	// connection buffer would split headers plus a 4 KiB body in two, two
	// packets and two wake-ups of the client. HTTP/1 only, where the
	// handler's goroutine is the only writer.
	holding bool
	held    []byte

	// fastIdle: on the fast path, waiting for the next request (Shutdown
	// closes it at once).
	fastIdle atomic.Bool
}

// hold starts collecting writes; release sends them in one.
func (c *conn) hold() { c.holding = true }

func (c *conn) release() error {
	c.holding = false
	if len(c.held) == 0 {
		return nil
	}
	c.Conn.SetWriteDeadline(time.Now().Add(c.s.cfg.SendTimeout))
	n, err := c.Conn.Write(c.held)
	c.wrote(int64(n))
	c.held = c.held[:0] // at most a small file and its headers: kept for the next answer
	if err != nil {
		c.Conn.Close() // the client is gone; make net/http see it
	}
	return err
}

// connKey carries the *conn into request contexts (http.Server.ConnContext).
type connKey struct{}

func (s *Server) newConn(nc net.Conn) *conn {
	c := &conn{Conn: nc, s: s}
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		c.ip = ap.Addr().Unmap()
	}
	s.m.conns.Inc()
	s.m.active.Inc()
	if s.cfg.MaxConnsPerIP > 0 && c.ip.IsValid() {
		s.ipMu.Lock()
		n := s.perIP[c.ip] + 1
		s.perIP[c.ip] = n
		s.ipMu.Unlock()
		c.overLimit = n > s.cfg.MaxConnsPerIP
	}
	return c
}

// connOf finds our *conn under what http.Server hands to its hooks.
func connOf(nc net.Conn) *conn {
	switch v := nc.(type) {
	case *conn:
		return v
	case *handoffConn:
		return v.conn
	case *tls.Conn:
		c, _ := v.NetConn().(*conn)
		return c
	}
	return nil
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.read.Add(int64(n))
		c.s.m.received.Add(float64(n))
	}
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	if c.holding {
		c.held = append(c.held, p...)
		return len(p), nil
	}
	c.Conn.SetWriteDeadline(time.Now().Add(c.s.cfg.SendTimeout))
	n, err := c.Conn.Write(p)
	c.wrote(int64(n))
	return n, err
}

func (c *conn) wrote(n int64) {
	if n > 0 {
		c.written.Add(n)
		c.s.m.sent.Add(float64(n))
	}
}

// sendChunk is how much of a file one sendfile call may send before the
// send timeout is renewed: nginx's sendfile_max_chunk (2 MiB), so a client
// must take 2 MiB per SendTimeout (35 KB/s at the default 60 s) to keep its
// connection, as with nginx's send_timeout. Smaller chunks cost throughput
// (256 KiB measured about 10% below nginx on a 1 GiB file).
const sendChunk = 2 << 20

// ReadFrom is what keeps sendfile: net/http's response hands a file body to
// the connection's ReadFrom, and *net.TCPConn's ReadFrom is sendfile(2) for
// an *os.File (alone or under an io.LimitedReader). The file is sent in
// chunks so that the send timeout measures progress, not the whole transfer.
func (c *conn) ReadFrom(src io.Reader) (int64, error) {
	rf, ok := c.Conn.(io.ReaderFrom)
	if !ok {
		return io.Copy(writerOnly{c}, src)
	}
	var lr *io.LimitedReader
	switch v := src.(type) {
	case *io.LimitedReader:
		if _, isFile := v.R.(*os.File); isFile {
			lr = v
		}
	case *os.File:
		lr = &io.LimitedReader{R: v, N: 1<<63 - 1}
	}
	if lr == nil {
		return io.Copy(writerOnly{c}, src)
	}
	var total int64
	for lr.N > 0 {
		chunk := min(lr.N, sendChunk)
		c.Conn.SetWriteDeadline(time.Now().Add(c.s.cfg.SendTimeout))
		n, err := rf.ReadFrom(&io.LimitedReader{R: lr.R, N: chunk})
		lr.N -= n
		total += n
		c.wrote(n)
		c.s.sendfileBytes.Add(n)
		if err != nil || n < chunk {
			return total, err
		}
	}
	return total, nil
}

// CloseWrite lets net/http half-close before closing, as it does for a bare
// *net.TCPConn.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		c.s.m.active.Dec()
		if c.s.cfg.MaxConnsPerIP > 0 && c.ip.IsValid() {
			c.s.ipMu.Lock()
			if n := c.s.perIP[c.ip] - 1; n > 0 {
				c.s.perIP[c.ip] = n
			} else {
				delete(c.s.perIP, c.ip)
			}
			c.s.ipMu.Unlock()
		}
	})
	return err
}

// startRequest returns the bytes read since the previous request: this
// request's line and headers (and, on the first request, a TLS handshake).
// net/http has read the whole header when the handler starts, and a client
// that does not pipeline sends nothing more until it has the response.
func (c *conn) startRequest() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.read.Load()
	in := now - c.readMark
	c.readMark = now
	return in
}

// setPending parks a finished request's log record until net/http has
// flushed the response (ConnState idle or closed). The request was counted
// in Server.pending when it started; flushPending uncounts it.
func (c *conn) setPending(r *record) {
	c.mu.Lock()
	old := c.pending
	c.pending = r
	c.mu.Unlock()
	if old != nil { // cannot happen: every request ends in idle or closed
		c.s.pending.Add(-1)
	}
}

// flushPending logs the parked record with the bytes written for it.
func (c *conn) flushPending() {
	c.mu.Lock()
	r := c.pending
	c.pending = nil
	now := c.written.Load()
	out := now - c.writtenMark
	c.writtenMark = now
	c.mu.Unlock()
	if r != nil {
		c.s.alog.write(r, out)
		c.s.pending.Add(-1)
	}
}

// writerOnly hides a ReadFrom method, so io.Copy does not call it again.
type writerOnly struct{ io.Writer }
