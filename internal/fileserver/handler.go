package fileserver

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ServeHTTP serves the tree. It is the whole HTTP side of a mirror: mount it
// at "/" (it interprets the whole path). Used through Serve, ServeTLS or Run
// it also enforces the per-IP connection cap and logs exact byte counts;
// mounted on another http.Server it serves the same content and logs
// estimated byte counts.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	c, _ := r.Context().Value(connKey{}).(*conn)
	rw := &responseWriter{ResponseWriter: w}
	var in int64 = -1
	if s.alog != nil {
		// Counted from the start, so Shutdown cannot close the log between
		// a request's end and its line.
		s.pending.Add(1)
		if c != nil && r.ProtoMajor == 1 {
			in = c.startRequest()
		}
	}
	s.handle(rw, r, c)
	s.finish(rw, r, c, start, in)
	if c != nil && c.holding {
		// A small file's headers and body: flush net/http's buffers into
		// the held connection and send them in one write, after the
		// request is counted, as net/http's own final flush would be.
		_ = http.NewResponseController(rw).Flush()
		_ = c.release()
	}
}

func (s *Server) handle(w *responseWriter, r *http.Request, c *conn) {
	if c != nil && c.overLimit {
		s.m.refusals.WithLabelValues(reasonPerIP).Inc()
		h := w.Header()
		h.Set("Retry-After", s.retryAfter)
		h.Set("Connection", "close") // HTTP/2: a GOAWAY
		writeText(w, r, http.StatusServiceUnavailable, "503 Service Unavailable: too many connections from your address\n")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeText(w, r, http.StatusMethodNotAllowed, "405 Method Not Allowed\n")
		return
	}
	p, slash, ok := cleanPath(r.URL.Path)
	if !ok {
		writeText(w, r, http.StatusBadRequest, "400 Bad Request\n")
		return
	}
	if !slash {
		if f := s.files.get(p, s.now()); f != nil {
			s.serveSmall(w, r, c, f.meta, f.data)
			return
		}
	}
	n, err := s.resolve(p, true)
	if err != nil {
		s.notFound(w, r)
		return
	}
	defer n.close()
	if n.file != nil {
		if slash {
			s.notFound(w, r) // "file/" is not a directory: nginx says 404 too
			return
		}
		s.serveFile(w, r, c, p, n)
		return
	}
	if !slash {
		loc := r.URL.EscapedPath() + "/"
		if r.URL.RawQuery != "" {
			loc += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", loc)
		writeText(w, r, http.StatusMovedPermanently, "")
		return
	}
	s.serveListing(w, r, p, n)
}

// cleanPath turns a request path into a clean slash-led one. It refuses a NUL
// byte and any ".." segment (no client needs to climb, and a decoded "%2e%2e"
// must never reach the file system); "." and empty segments are dropped, as
// nginx's merge_slashes does. slash reports a trailing "/": a directory.
func cleanPath(raw string) (p string, slash, ok bool) {
	if raw == "" || raw[0] != '/' || strings.IndexByte(raw, 0) >= 0 {
		return "", false, false
	}
	slash = raw[len(raw)-1] == '/'
	if !strings.Contains(raw, "//") && !strings.Contains(raw, "/.") {
		return strings.TrimSuffix(raw, "/"), slash, true // the common case: already clean
	}
	var b strings.Builder
	for seg := range strings.SplitSeq(raw[1:], "/") {
		switch seg {
		case "", ".":
			continue
		case "..":
			return "", false, false
		}
		b.WriteByte('/')
		b.WriteString(seg)
	}
	return b.String(), slash, true
}

// serveFile sends one regular file; http.ServeContent does the conditional
// requests and ranges, and its copy of the *os.File reaches the connection's
// ReadFrom, which is sendfile(2). A small file is read into memory (and
// kept in the file cache) and goes out with its headers in one write.
func (s *Server) serveFile(w *responseWriter, r *http.Request, c *conn, p string, n *node) {
	m := s.fileMeta(p, n.info)
	if size := n.info.Size(); size <= smallFile {
		var b []byte
		if s.files != nil {
			b = make([]byte, size) // the cache keeps it
		} else {
			bp := smallBufs.Get().(*[]byte)
			defer smallBufs.Put(bp)
			b = (*bp)[:size]
		}
		if k, err := n.file.ReadAt(b, 0); err == nil || (errors.Is(err, io.EOF) && int64(k) == size) {
			s.files.put(p, b, m, s.now())
			s.serveSmall(w, r, c, m, b)
			return
		}
		// Changed under us (shorter now): let the file answer for itself.
	}
	s.fileHeaders(w, r, m)
	http.ServeContent(w, r, "", m.modTime, n.file)
}

// serveSmall sends a small file's content from memory. Headers and body
// leave in one write: net/http's buffer holds both and ServeHTTP flushes
// the held connection, instead of a header write and a sendfile, two
// packets for what fits in one.
func (s *Server) serveSmall(w *responseWriter, r *http.Request, c *conn, m *fileMeta, b []byte) {
	s.fileHeaders(w, r, m)
	if c != nil && r.ProtoMajor == 1 {
		c.hold()
	}
	if s.serveContentAlways || conditional(r.Header) {
		http.ServeContent(w, r, "", m.modTime, bytes.NewReader(b))
		return
	}
	// The plain request, most of them: the whole file, answered as
	// http.ServeContent would answer it, without its precondition and
	// range machinery.
	h := w.Header()
	if m.lastModified != "" {
		h["Last-Modified"] = []string{m.lastModified}
	}
	h["Accept-Ranges"] = []string{"bytes"}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}

// conditional reports whether a request carries a precondition or a range,
// which http.ServeContent answers.
func conditional(h http.Header) bool {
	for _, k := range [...]string{"Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
		if _, ok := h[k]; ok {
			return true
		}
	}
	return false
}

// fileMeta is what a file's answers carry besides its content, worked out
// once per file (and kept with a cached small file): its type, cache
// class, validators and range rule.
type fileMeta struct {
	modTime      time.Time
	lastModified string // "" for a zero or epoch time, as ServeContent leaves it out
	contentType  []string
	etag         []string
	cacheControl []string // nil for none
	expiresNow   bool     // repository metadata: Expires is the moment of the answer
	noRange      bool
}

func (s *Server) fileMeta(p string, info fs.FileInfo) *fileMeta {
	mt := info.ModTime()
	m := &fileMeta{modTime: mt, contentType: []string{s.types.lookup(p[strings.LastIndexByte(p, '/')+1:])},
		etag: []string{etag(mt, info.Size())}, noRange: !s.noRange.empty() && s.noRange.match(p)}
	if !mt.IsZero() && !mt.Equal(time.Unix(0, 0)) {
		m.lastModified = mt.UTC().Format(http.TimeFormat)
	}
	switch {
	case s.metadata.match(p):
		m.cacheControl, m.expiresNow = []string{revalidate}, true
	case s.immutable.match(p):
		m.cacheControl = []string{s.ccImmutable}
	case s.ccOther != "":
		m.cacheControl = []string{s.ccOther}
	}
	return m
}

// fileHeaders sets what every file's answer carries and applies the range
// rules. The header values are shared between answers, never changed.
func (s *Server) fileHeaders(w *responseWriter, r *http.Request, m *fileMeta) {
	h := w.Header()
	h["Content-Type"] = m.contentType
	h["Etag"] = m.etag
	if m.cacheControl != nil {
		h["Cache-Control"] = m.cacheControl
	}
	if m.expiresNow {
		h["Expires"] = []string{s.now().UTC().Format(http.TimeFormat)}
	}
	if m.noRange {
		w.acceptRanges = "none" // on every answer, so a client knows before it tries
	}
	if rg := r.Header.Get("Range"); rg != "" {
		switch {
		case m.noRange:
			s.m.refusals.WithLabelValues(reasonRange).Inc()
			r.Header.Del("Range")
		case s.cfg.MaxRanges > 0 && strings.Count(rg, ",") >= s.cfg.MaxRanges:
			s.m.refusals.WithLabelValues(reasonTooManyRanges).Inc()
			r.Header.Del("Range")
		}
	}
}

// smallFile is the size up to which a file is read into memory and sent
// with its headers in one write.
const smallFile = 16 << 10

var smallBufs = sync.Pool{New: func() any { b := make([]byte, smallFile); return &b }}

// etag is nginx's: the mtime in seconds and the size, in hex. It is sent as
// a strong validator (so If-Range works) and is the same on every mirror that
// holds the same file, since rsync keeps mtimes: a client resuming on another
// mirror keeps its range.
func etag(mtime time.Time, size int64) string {
	b := make([]byte, 0, 36)
	b = append(b, '"')
	b = strconv.AppendInt(b, mtime.Unix(), 16)
	b = append(b, '-')
	b = strconv.AppendInt(b, size, 16)
	b = append(b, '"')
	return string(b)
}

const revalidate = "max-age=0, must-revalidate"

// notFoundBody is the one 404 for every path that is not served.
const notFoundBody = "404 Not Found\n"

// notFound answers 404 with headers that depend on nothing but the request
// method: whatever was set for the path is dropped, so a staged file's 404
// carries no trace (type, cache class, validator) of what is behind it.
func (s *Server) notFound(w *responseWriter, r *http.Request) {
	h := w.Header()
	for k := range h {
		delete(h, k)
	}
	h["Cache-Control"] = []string{revalidate}
	writeText(w, r, http.StatusNotFound, notFoundBody)
}

// writeText sends a short plain-text answer with its length, so no response
// of ours is ever chunked.
func writeText(w http.ResponseWriter, r *http.Request, code int, body string) {
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(code)
	if r.Method != http.MethodHead && body != "" {
		io.WriteString(w, body)
	}
}
