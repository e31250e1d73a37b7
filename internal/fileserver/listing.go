package fileserver

import (
	"bytes"
	"html"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// entry is one line of a listing: what a client gets when it follows the
// name, so a symlink shows as what it points to.
type entry struct {
	name  string
	dir   bool
	size  int64
	mtime time.Time
}

// listEntries reads a directory and keeps only what would be served: a
// staged subdirectory, a temporary file, a symlink out of the tree or into
// staged content are left out, exactly as GET on them says 404.
func (s *Server) listEntries(n *node) ([]entry, error) {
	f, err := n.dir.Open(".")
	if err != nil {
		return nil, err
	}
	des, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return nil, err
	}
	out := make([]entry, 0, len(des))
	prefix := strings.TrimSuffix(n.rel, "/") + "/"
	for _, de := range des {
		name := de.Name()
		if s.hiddenName(name) {
			continue
		}
		var fi fs.FileInfo
		switch t := de.Type(); {
		case t&fs.ModeSymlink != 0:
			target, err := s.resolve(prefix+name, false)
			if err != nil {
				continue
			}
			fi = target.info
		case t.IsDir() || t.IsRegular():
			if fi, err = de.Info(); err != nil {
				continue // gone since ReadDir
			}
		default:
			continue
		}
		e := entry{name: name, mtime: fi.ModTime()}
		switch m := fi.Mode(); {
		case m.IsDir():
			if m.Perm()&dirBits != dirBits {
				continue
			}
			e.dir = true
		case m.IsRegular():
			if m.Perm()&fileBits == 0 {
				continue
			}
			e.size = fi.Size()
		default:
			continue
		}
		out = append(out, e)
	}
	// nginx's order: directories first, then by name (bytes).
	slices.SortFunc(out, func(a, b entry) int {
		if a.dir != b.dir {
			if a.dir {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return out, nil
}

func (s *Server) serveListing(w *responseWriter, r *http.Request, p string, n *node) {
	entries, err := s.listEntries(n)
	if err != nil {
		s.log.Warn("list directory", "path", p, "err", err)
		s.notFound(w, r)
		return
	}
	h := w.Header()
	h["Vary"] = []string{"Accept"}
	h["Cache-Control"] = []string{revalidate}
	h["Expires"] = []string{s.now().UTC().Format(http.TimeFormat)}
	var body []byte
	if wantsJSON(r) {
		h["Content-Type"] = []string{"application/json"}
		body = listJSON(entries)
	} else {
		h["Content-Type"] = []string{"text/html; charset=utf-8"}
		body = listHTML(p, entries)
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// wantsJSON: "?json" (any query naming json), or an Accept header that
// prefers application/json to text/html, as mirrorkit's HTTP scanner sends.
func wantsJSON(r *http.Request) bool {
	if q := r.URL.RawQuery; q != "" {
		if _, ok := r.URL.Query()["json"]; ok {
			return true
		}
	}
	accept := r.Header.Get("Accept")
	if accept == "" {
		return false
	}
	jsonQ, htmlQ := -1.0, -1.0
	for part := range strings.SplitSeq(accept, ",") {
		media, params, _ := strings.Cut(part, ";")
		media = strings.ToLower(strings.TrimSpace(media))
		q := 1.0
		for param := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(param), "=")
			if ok && strings.EqualFold(k, "q") {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					q = f
				}
			}
		}
		switch media {
		case "application/json":
			jsonQ = max(jsonQ, q)
		case "text/html":
			htmlQ = max(htmlQ, q)
		}
	}
	return jsonQ > 0 && jsonQ > htmlQ
}

// listHTML writes nginx's autoindex page (autoindex_exact_size on,
// autoindex_localtime off), which every mirror tool already parses: names
// padded to 50 columns (cut to 47 plus "..>"), UTC time to the minute, exact
// size or "-". The href carries the exact name, percent-encoded byte for
// byte; the text is for people.
func listHTML(p string, entries []entry) []byte {
	var b bytes.Buffer
	b.Grow(256 + 120*len(entries))
	title := html.EscapeString(strings.ToValidUTF8(strings.TrimSuffix(p, "/")+"/", "\uFFFD"))
	b.WriteString("<html>\r\n<head><title>Index of ")
	b.WriteString(title)
	b.WriteString("</title></head>\r\n<body>\r\n<h1>Index of ")
	b.WriteString(title)
	b.WriteString("</h1><hr><pre>")
	if p != "/" && p != "" {
		b.WriteString("<a href=\"../\">../</a>\r\n")
	}
	var num [24]byte
	for _, e := range entries {
		shown := strings.ToValidUTF8(e.name, "\uFFFD")
		if e.dir {
			shown += "/"
		}
		width := utf8.RuneCountInString(shown)
		if width > 50 {
			shown = truncateRunes(shown, 47) + "..>"
			width = 50
		}
		b.WriteString(`<a href="`)
		b.WriteString(escapeSegment(e.name))
		if e.dir {
			b.WriteByte('/')
		}
		b.WriteString(`">`)
		b.WriteString(html.EscapeString(shown))
		b.WriteString("</a>")
		b.WriteString(strings.Repeat(" ", 51-width))
		b.Write(e.mtime.UTC().AppendFormat(num[:0], "02-Jan-2006 15:04"))
		size := "-"
		if !e.dir {
			size = strconv.FormatInt(e.size, 10)
		}
		b.WriteString(strings.Repeat(" ", max(1, 20-len(size))))
		b.WriteString(size)
		b.WriteString("\r\n")
	}
	b.WriteString("</pre><hr></body>\r\n</html>\r\n")
	return b.Bytes()
}

func truncateRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// escapeSegment percent-encodes every byte but letters, digits and "-._~",
// so any name (spaces, "#", "?", ":", Latin-1 bytes) is one relative
// segment that resolves to exactly its own bytes.
func escapeSegment(name string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(name) + 8)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// listJSON writes nginx's autoindex_format json: an array of
// {"name","type","mtime","size"} with RFC 1123 GMT times. Names go in byte
// for byte as nginx writes them (only '"', '\' and control bytes escaped):
// a Latin-1 name stays its own bytes instead of becoming U+FFFD.
func listJSON(entries []entry) []byte {
	var b bytes.Buffer
	b.Grow(16 + 110*len(entries))
	b.WriteString("[\n")
	var tb [40]byte
	for i, e := range entries {
		b.WriteString(`{ "name":"`)
		writeJSONBytes(&b, e.name)
		if e.dir {
			b.WriteString(`", "type":"directory", "mtime":"`)
		} else {
			b.WriteString(`", "type":"file", "mtime":"`)
		}
		b.Write(e.mtime.UTC().AppendFormat(tb[:0], http.TimeFormat))
		b.WriteByte('"')
		if !e.dir {
			b.WriteString(`, "size":`)
			b.WriteString(strconv.FormatInt(e.size, 10))
		}
		b.WriteString(" }")
		if i < len(entries)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("]\n")
	return b.Bytes()
}

func writeJSONBytes(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
	}
}
