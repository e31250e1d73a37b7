package fileserver

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// The fast path answers the common request of a plain HTTP/1.1 connection
// itself: a keep-alive GET or HEAD of a small file already in the file
// cache, with no body, no range and no condition. That is most of a
// mirror's requests (repository metadata, signatures, small packages), and
// for them net/http's per-request machinery costs more than the answer.
// Anything else — another method or version, an escaped or unclean path, a
// header it does not know to be harmless, a file not in the cache, a
// connection over the per-IP cap — is handed to net/http on the same
// connection with the bytes already read, so the fast path only ever
// answers what it understands completely and never judges what it does not.
// Its answers carry exactly the headers net/http's path sends, and its
// access log lines the same fields and byte counts (tests compare both).

// fastHeadMax bounds a request head the fast path reads; a longer one is
// handed over (net/http allows up to MaxHeaderBytes).
const fastHeadMax = 4096

// fastListener feeds http.Server the connections the fast path hands over.
// Its own goroutine accepts, and every new connection starts on the fast
// path.
type fastListener struct {
	net.Listener
	s       *Server
	start   sync.Once
	handoff chan net.Conn
	done    chan struct{} // closed when the real listener fails or closes
	err     error
}

func (l *fastListener) Accept() (net.Conn, error) {
	l.start.Do(func() { go l.acceptLoop() })
	select {
	case c := <-l.handoff:
		return c, nil
	case <-l.done:
		return nil, l.err
	}
}

func (l *fastListener) acceptLoop() {
	var backoff time.Duration
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			// As net/http does: wait out a temporary failure (EMFILE).
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			l.err = err
			close(l.done)
			return
		}
		backoff = 0
		c := l.s.newConn(nc)
		if !l.s.fastTrack(c) {
			c.Close()
			continue
		}
		go func() {
			defer l.s.fastUntrack(c)
			l.s.serveFast(c, l)
		}()
	}
}

// handOver gives a connection to net/http.
func (l *fastListener) handOver(c net.Conn) {
	select {
	case l.handoff <- c:
	case <-l.done:
		c.Close()
	}
}

// handoffConn is a connection handed to net/http with what the fast path
// had read of it and not answered.
type handoffConn struct {
	*conn
	r *bufio.Reader
}

func (h *handoffConn) Read(p []byte) (int, error) {
	if h.r.Buffered() > 0 {
		return h.r.Read(p)
	}
	return h.conn.Read(p)
}

// fastConns tracks the connections on the fast path, for Shutdown and Close.
type fastConns struct {
	mu sync.Mutex
	m  map[*conn]struct{}
	wg sync.WaitGroup
	// closing is set under mu, read without it: every request checks it.
	closing atomic.Bool
}

func (s *Server) fastTrack(c *conn) bool {
	f := &s.fast
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing.Load() {
		return false
	}
	if f.m == nil {
		f.m = map[*conn]struct{}{}
	}
	f.m[c] = struct{}{}
	f.wg.Add(1)
	return true
}

func (s *Server) fastUntrack(c *conn) {
	f := &s.fast
	f.mu.Lock()
	delete(f.m, c)
	f.mu.Unlock()
	f.wg.Done()
}

// fastShutdown stops the fast path: idle connections are closed now, busy
// ones after their answer; with force, all of them now. It waits for them
// until ctx ends.
func (s *Server) fastShutdown(done <-chan struct{}, force bool) {
	f := &s.fast
	f.mu.Lock()
	f.closing.Store(true)
	for c := range f.m {
		if force || c.fastIdle.Load() {
			c.Close()
		}
	}
	f.mu.Unlock()
	waited := make(chan struct{})
	go func() { f.wg.Wait(); close(waited) }()
	if done == nil {
		ch := make(chan struct{}) // all closed above: they end at once
		t := time.AfterFunc(lastLinesGrace, func() { close(ch) })
		defer t.Stop()
		done = ch
	}
	select {
	case <-waited:
	case <-done:
	}
}

func (s *Server) fastClosing() bool { return s.fast.closing.Load() }

// serveFast runs one connection's requests until one needs net/http.
func (s *Server) serveFast(c *conn, l *fastListener) {
	if c.overLimit {
		l.handOver(c) // net/http answers the 503
		return
	}
	br := bufio.NewReaderSize(c, fastHeadMax)
	for first := true; ; first = false {
		wait := s.cfg.IdleTimeout
		if first {
			wait = s.cfg.ReadHeaderTimeout
		}
		c.fastIdle.Store(true)
		if s.fastClosing() {
			c.Close()
			return
		}
		c.SetReadDeadline(time.Now().Add(wait))
		if _, err := br.Peek(1); err != nil {
			c.Close() // idle timeout, or the client left
			return
		}
		c.fastIdle.Store(false)
		c.SetReadDeadline(time.Now().Add(s.cfg.ReadHeaderTimeout))
		head, err := peekHead(br)
		if err != nil {
			c.Close()
			return
		}
		var req fastRequest
		var f *cachedFile
		ok := head != nil && parseFast(head, &req)
		if ok {
			f = s.files.get(req.path, s.now())
			ok = f != nil
		}
		if !ok {
			c.SetReadDeadline(time.Time{})
			l.handOver(&handoffConn{conn: c, r: br})
			return
		}
		req.size, req.start = len(head), s.now()
		br.Discard(len(head))
		c.SetReadDeadline(time.Time{})
		if err := s.answerFast(c, &req, f); err != nil || req.close {
			c.Close()
			return
		}
	}
}

var (
	crlf2 = []byte("\r\n\r\n")
	lf2   = []byte("\n\n")
)

// peekHead returns the next request's head, up to and including its blank
// line, without consuming it; nil when the head is longer than fastHeadMax
// or ends in bare line feeds (net/http takes those).
func peekHead(br *bufio.Reader) ([]byte, error) {
	for {
		buf, _ := br.Peek(br.Buffered())
		if i := bytes.Index(buf, crlf2); i >= 0 {
			if bytes.Contains(buf[:i+4], lf2) {
				return nil, nil
			}
			return buf[:i+4], nil
		}
		if bytes.Contains(buf, lf2) || len(buf) >= fastHeadMax {
			return nil, nil
		}
		if _, err := br.Peek(len(buf) + 1); err != nil {
			return nil, err
		}
	}
}

type fastRequest struct {
	head  bool   // HEAD, else GET
	path  string // clean, slash-led, unescaped (it has nothing to unescape)
	close bool   // Connection: close
	// For the access log.
	referer, userAgent string
	size               int // the head's length, the request's %I
	start              time.Time
}

// parseFast reads a request head the fast path may answer: the request
// line "GET|HEAD /path HTTP/1.1" with a path of plain characters, and only
// header fields known not to change the answer, Host exactly once. Any
// doubt is false: net/http decides.
func parseFast(head []byte, req *fastRequest) bool {
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	switch {
	case bytes.HasPrefix(line, []byte("GET ")):
		line = line[4:]
	case bytes.HasPrefix(line, []byte("HEAD ")):
		req.head, line = true, line[5:]
	default:
		return false
	}
	target, ok := bytes.CutSuffix(line, []byte(" HTTP/1.1"))
	if !ok || !fastPath(target) {
		return false
	}
	req.path = string(target)
	hosts := 0
	for {
		var field []byte
		field, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		if len(field) == 0 {
			break // the blank line
		}
		// net/http's own validators: what the fast path takes, net/http
		// would have taken too.
		name, value, ok := bytes.Cut(field, []byte(":"))
		if !ok || !httpguts.ValidHeaderFieldName(string(name)) || !httpguts.ValidHeaderFieldValue(string(value)) {
			return false // includes obs-fold: a line starting with a space
		}
		value = bytes.TrimSpace(value)
		switch string(bytes.ToLower(name)) {
		case "host":
			hosts++
			if len(value) == 0 || !httpguts.ValidHostHeader(string(value)) {
				return false
			}
		case "connection":
			switch string(bytes.ToLower(value)) {
			case "keep-alive":
			case "close":
				req.close = true
			default:
				return false
			}
		case "user-agent":
			req.userAgent = string(value)
		case "referer":
			req.referer = string(value)
		case "accept", "accept-encoding", "accept-language", "accept-charset",
			"cache-control", "pragma", "dnt", "via", "x-forwarded-for", "x-forwarded-proto",
			"sec-fetch-mode", "sec-fetch-site", "sec-fetch-dest", "upgrade-insecure-requests":
			// No bearing on a file's answer.
		default:
			return false // Range, If-*, Content-Length, Transfer-Encoding, Expect, Upgrade, …
		}
	}
	return hosts == 1
}

// fastPath: a clean absolute path of characters that need no escaping, not
// a directory, no dot segment or dot file (net/http and resolve judge those).
func fastPath(p []byte) bool {
	if len(p) < 2 || p[0] != '/' || p[len(p)-1] == '/' || bytes.Contains(p, []byte("//")) || bytes.Contains(p, []byte("/.")) {
		return false
	}
	for _, b := range p {
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case b == '/', b == '.', b == '-', b == '_', b == '+', b == '~':
		default:
			return false
		}
	}
	return true
}

var fastBufs = sync.Pool{New: func() any { b := make([]byte, 0, smallFile+1024); return &b }}

// answerFast writes the answer net/http's path would give (serveSmall's
// plain case), in one write.
func (s *Server) answerFast(c *conn, req *fastRequest, f *cachedFile) error {
	bp := fastBufs.Get().(*[]byte)
	defer fastBufs.Put(bp)
	m := f.meta
	b := append((*bp)[:0], "HTTP/1.1 200 OK\r\nAccept-Ranges: "...)
	if m.noRange {
		b = append(b, "none"...)
	} else {
		b = append(b, "bytes"...)
	}
	if m.cacheControl != nil {
		b = append(append(b, "\r\nCache-Control: "...), m.cacheControl[0]...)
	}
	if req.close {
		b = append(b, "\r\nConnection: close"...)
	}
	b = strconv.AppendInt(append(b, "\r\nContent-Length: "...), int64(len(f.data)), 10)
	b = append(append(b, "\r\nContent-Type: "...), m.contentType[0]...)
	now := time.Now().UTC()
	b = now.AppendFormat(append(b, "\r\nDate: "...), http.TimeFormat)
	b = append(append(b, "\r\nEtag: "...), m.etag[0]...)
	if m.expiresNow {
		b = s.now().UTC().AppendFormat(append(b, "\r\nExpires: "...), http.TimeFormat)
	}
	if m.lastModified != "" {
		b = append(append(b, "\r\nLast-Modified: "...), m.lastModified...)
	}
	b = append(b, "\r\n\r\n"...)
	if !req.head {
		b = append(b, f.data...)
	}
	*bp = b
	// Counted before it leaves, as the net/http path counts it: a client
	// that has its answer sees it in the metrics.
	method := http.MethodGet
	if req.head {
		method = http.MethodHead
	}
	s.m.request(http.StatusOK, method)
	s.fastAnswers.Add(1)
	if s.alog == nil {
		_, err := c.Write(b)
		return err
	}
	// The log line, with the exact bytes of this exchange. The marks move
	// past it, so a request net/http takes on this connection later counts
	// only its own bytes.
	s.pending.Add(1)
	defer s.pending.Add(-1)
	n, err := c.Write(b)
	c.mu.Lock()
	c.readMark += int64(req.size)
	c.writtenMark += int64(n)
	c.mu.Unlock()
	body := int64(0) // of the body, what left: all of it, or less on a cut answer
	if !req.head {
		body = int64(max(0, n-(len(b)-len(f.data))))
	}
	r := &http.Request{Method: method, RequestURI: req.path, Proto: "HTTP/1.1", RemoteAddr: c.RemoteAddr().String(),
		Header: http.Header{"Referer": {req.referer}, "User-Agent": {req.userAgent}}}
	s.alog.write(formatRecord(r, req.start, http.StatusOK, body, int64(req.size)), int64(n))
	return err
}
