package fileserver

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// responseWriter records the status and body bytes of a response. It keeps
// ReadFrom, so a file body still reaches the connection's ReadFrom
// (sendfile), and Unwrap, so http.ResponseController sees through it.
type responseWriter struct {
	http.ResponseWriter
	status       int
	body         int64
	acceptRanges string // replaces ServeContent's "Accept-Ranges: bytes" when set
}

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		if w.acceptRanges != "" {
			w.Header()["Accept-Ranges"] = []string{w.acceptRanges}
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.body += int64(n)
	return n, err
}

func (w *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	var n int64
	var err error
	if !fileBody(src) {
		// Bytes in memory stay in net/http's buffer with the headers:
		// its ReadFrom would flush the headers first.
		n, err = io.Copy(writerOnly{w.ResponseWriter}, src)
	} else if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(writerOnly{w.ResponseWriter}, src)
	}
	w.body += n
	return n, err
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// fileBody reports whether src is a file, alone or limited: what sendfile
// can send.
func fileBody(src io.Reader) bool {
	if lr, ok := src.(*io.LimitedReader); ok {
		src = lr.R
	}
	_, ok := src.(*os.File)
	return ok
}

// record is one access log line waiting for its %O: head is everything up to
// and including "%I ", tail the rest.
type record struct {
	head, tail []byte
}

// finish counts the request and logs it. On HTTP/1 through our listener the
// line waits for the connection's idle or closed state, when net/http has
// written the last byte; otherwise (HTTP/2, a foreign server) it is written
// now with sizes computed from the request and response (see estimate).
func (s *Server) finish(w *responseWriter, r *http.Request, c *conn, start time.Time, in int64) {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	s.m.request(status, r.Method)
	if s.alog == nil {
		return
	}
	exact := in >= 0
	if !exact {
		in = requestSize(r)
	}
	rec := formatRecord(r, start, status, w.body, in)
	if exact {
		c.setPending(rec)
		return
	}
	s.alog.write(rec, responseHeaderSize(w.Header(), status)+w.body)
	s.pending.Add(-1)
}

// formatRecord builds the Fedora seed's "combined" line with mod_logio:
//
//	%h %l %u %t "%r" %>s %b "%{Referer}i" %I %O "%{User-Agent}i"
func formatRecord(r *http.Request, start time.Time, status int, body, in int64) *record {
	b := make([]byte, 0, 256)
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	b = append(b, host...)
	b = append(b, " - - ["...)
	b = start.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, "] \""...)
	b = appendEscaped(b, r.Method)
	b = append(b, ' ')
	b = appendEscaped(b, r.RequestURI)
	b = append(b, ' ')
	b = appendEscaped(b, r.Proto)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	if body > 0 {
		b = strconv.AppendInt(b, body, 10)
	} else {
		b = append(b, '-')
	}
	b = append(b, " \""...)
	b = appendEscaped(b, r.Header.Get("Referer"))
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, in, 10)
	b = append(b, ' ')
	tail := make([]byte, 0, 64)
	tail = append(tail, " \""...)
	tail = appendEscaped(tail, r.Header.Get("User-Agent"))
	tail = append(tail, "\"\n"...)
	return &record{head: b, tail: tail}
}

// appendEscaped escapes as Apache does: '"' and '\' with a backslash,
// control and non-ASCII bytes as \xhh, so a line is always one line of
// ASCII whatever a client sends.
func appendEscaped(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c >= 0x7f:
			b = append(b, '\\', 'x', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return b
}

// requestSize estimates a request's size as HTTP/1.1 would put it on the
// wire; it is what %I says where the connection cannot be counted (HTTP/2,
// whose HPACK-compressed frames belong to no single request).
func requestSize(r *http.Request) int64 {
	n := int64(len(r.Method) + 1 + len(r.RequestURI) + 1 + len("HTTP/1.1") + 2)
	n += int64(len("Host: ") + len(r.Host) + 2)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += int64(len(k) + 2 + len(v) + 2)
		}
	}
	return n + 2 + max(r.ContentLength, 0)
}

// responseHeaderSize estimates a response header the same way.
func responseHeaderSize(h http.Header, status int) int64 {
	n := int64(len("HTTP/1.1 200 ") + len(http.StatusText(status)) + 2)
	n += int64(len("Date: Mon, 02 Jan 2006 15:04:05 GMT") + 2)
	for k, vs := range h {
		for _, v := range vs {
			n += int64(len(k) + 2 + len(v) + 2)
		}
	}
	return n + 2
}

// accessLog is the log file: one write per line (O_APPEND, no buffer, so a
// crash loses nothing and logrotate's copytruncate works), reopened on
// demand and rotated by size.
type accessLog struct {
	path     string
	maxBytes int64
	keep     int

	mu     sync.Mutex
	f      *os.File
	size   int64
	closed bool
	onErr  func(error)
}

func openAccessLog(path string, maxBytes int64, keep int, onErr func(error)) (*accessLog, error) {
	l := &accessLog{path: path, maxBytes: maxBytes, keep: keep, onErr: onErr}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *accessLog) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("open access log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open access log: %w", err)
	}
	l.f, l.size = f, st.Size()
	return nil
}

func (l *accessLog) write(r *record, out int64) {
	var buf [24]byte
	o := strconv.AppendInt(buf[:0], out, 10)
	n := int64(len(r.head) + len(o) + len(r.tail))
	line := make([]byte, 0, n)
	line = append(append(append(line, r.head...), o...), r.tail...)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	if l.maxBytes > 0 && l.size > 0 && l.size+n > l.maxBytes {
		if err := l.rotate(); err != nil {
			l.onErr(err)
		}
	}
	m, err := l.f.Write(line)
	l.size += int64(m)
	if err != nil {
		l.onErr(fmt.Errorf("write access log: %w", err))
	}
}

// rotate renames path.N-1 … path.1 one up (dropping path.N), the live file to
// path.1, and starts a new one. A failed rename keeps writing to the old
// file rather than lose lines.
func (l *accessLog) rotate() error {
	for i := l.keep - 1; i >= 1; i-- {
		from, to := l.path+"."+strconv.Itoa(i), l.path+"."+strconv.Itoa(i+1)
		if err := os.Rename(from, to); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotate access log: %w", err)
		}
	}
	if err := os.Rename(l.path, l.path+".1"); err != nil {
		return fmt.Errorf("rotate access log: %w", err)
	}
	old := l.f
	if err := l.open(); err != nil {
		l.f = old // keeps writing to path.1, better than losing lines
		return err
	}
	old.Close()
	return nil
}

// reopen closes the file and opens path again: after logrotate moved it.
func (l *accessLog) reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("reopen access log: closed")
	}
	old := l.f
	if err := l.open(); err != nil {
		return err
	}
	return old.Close()
}

func (l *accessLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	return l.f.Close()
}
