package metalink

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Content types to send with each format.
const (
	ContentTypeMeta4     = "application/metalink4+xml"
	ContentTypeMetalink3 = "application/metalink+xml"
)

// PieceHashSize is the length of one entry of File.Pieces: a SHA-256 digest.
const PieceHashSize = 32

// File is what the catalog knows about the file being described.
type File struct {
	// Name is the file's base name as the catalog stores it (raw bytes).
	Name string
	Size int64
	// ModTime is carried for callers (Last-Modified); neither format has a
	// per-file time element, so it is not written.
	ModTime time.Time
	// Digests of the whole file, hex, "" when unknown. Either case is
	// accepted; output is lower case.
	SHA256, SHA1, MD5, SHA512 string
	// PieceSize is the length of each piece but the last; 0 when there are
	// no piece hashes.
	PieceSize int64
	// Pieces is the SHA-256 of each piece, PieceHashSize bytes each,
	// concatenated; there must be exactly ceil(Size/PieceSize) of them.
	Pieces []byte
}

// URL is one mirror's copy of the file.
type URL struct {
	// URL is absolute and already percent-encoded (http, https, ftp, rsync).
	URL string
	// Location is an ISO 3166-1 alpha-2 country code, "" when unknown.
	Location string
	// Priority is RFC 5854's: 1 is most preferred, up to 999999.
	Priority int
}

// Options are the document-level facts that do not come from the catalog.
type Options struct {
	// Published is written as the document's publication time; the zero
	// time omits it. It comes from the caller because the package has no
	// clock (and golden tests need a fixed one).
	Published time.Time
	// Origin is the URL of the metalink document itself, so a client can
	// refresh it; "" omits it. Checked like URL.URL, and http or https.
	Origin string
	// Generator names the producer, e.g. "mirrorkit/1.2.3"; "" omits it.
	Generator string
	// IncludeRsync keeps rsync:// URLs, which download managers cannot
	// fetch and which are therefore dropped by default.
	IncludeRsync bool
}

// maxPriority is RFC 5854's upper bound for the priority attribute.
const maxPriority = 999999

// checked is the validated, normalized input shared by both formats.
type checked struct {
	name      string
	size      int64
	hashes    []namedHash // strongest first
	pieceSize int64
	pieces    []string // hex, one per piece
	urls      []checkedURL
}

type namedHash struct {
	meta4, v3 string // the type names each format uses
	hex       string
}

type checkedURL struct {
	url      string
	scheme   string
	location string // lower case
	priority int
}

type hashKind struct {
	meta4, v3 string // the type names each format uses
	hexLen    int
	value     string
}

// hashKinds lists f's digests in the order they are written: strongest
// first, though clients (aria2c among them) pick the strongest they support
// whatever the order. The Metalink 4 names are IANA's Hash Function Textual
// Names (RFC 5854 4.2.7); Metalink 3.0 uses the unhyphenated names.
func hashKinds(f File) [4]hashKind {
	return [...]hashKind{
		{"sha-512", "sha512", 128, f.SHA512},
		{"sha-256", "sha256", 64, f.SHA256},
		{"sha-1", "sha1", 40, f.SHA1},
		{"md5", "md5", 32, f.MD5},
	}
}

func check(f File, urls []URL, o Options) (*checked, error) {
	c := &checked{size: f.Size, pieceSize: f.PieceSize}
	var err error
	if c.name, err = safeName(f.Name); err != nil {
		return nil, err
	}
	if f.Size < 0 {
		return nil, fmt.Errorf("file %q: negative size %d", c.name, f.Size)
	}
	for _, k := range hashKinds(f) {
		h := k.value
		if h == "" {
			continue
		}
		if len(h) != k.hexLen {
			return nil, fmt.Errorf("file %q: %s digest has %d hex digits, want %d", c.name, k.meta4, len(h), k.hexLen)
		}
		raw, err := hex.DecodeString(h)
		if err != nil {
			return nil, fmt.Errorf("file %q: %s digest: %w", c.name, k.meta4, err)
		}
		c.hashes = append(c.hashes, namedHash{meta4: k.meta4, v3: k.v3, hex: hex.EncodeToString(raw)})
	}
	if c.pieces, err = checkPieces(f); err != nil {
		return nil, fmt.Errorf("file %q: %w", c.name, err)
	}
	if o.Origin != "" {
		scheme, err := checkURL(o.Origin)
		if err != nil {
			return nil, fmt.Errorf("origin: %w", err)
		}
		// The client re-fetches the document from here.
		if scheme != "http" && scheme != "https" {
			return nil, fmt.Errorf("origin %q: not an http or https URL", o.Origin)
		}
	}
	if len(urls) == 0 {
		return nil, fmt.Errorf("file %q: no URLs", c.name)
	}
	for i, u := range urls {
		cu, err := checkMirrorURL(u)
		if err != nil {
			return nil, fmt.Errorf("file %q: URL %d: %w", c.name, i, err)
		}
		if cu.scheme == "rsync" && !o.IncludeRsync {
			continue
		}
		c.urls = append(c.urls, cu)
	}
	if len(c.urls) == 0 {
		return nil, fmt.Errorf("file %q: all %d URLs are rsync, which is excluded without Options.IncludeRsync", c.name, len(urls))
	}
	slices.SortStableFunc(c.urls, func(a, b checkedURL) int { return cmp.Compare(a.priority, b.priority) })
	return c, nil
}

func checkPieces(f File) ([]string, error) {
	switch {
	case f.PieceSize < 0:
		return nil, fmt.Errorf("negative piece size %d", f.PieceSize)
	case f.PieceSize == 0 && len(f.Pieces) != 0:
		return nil, fmt.Errorf("%d bytes of piece hashes but piece size 0", len(f.Pieces))
	case f.PieceSize == 0:
		return nil, nil
	case len(f.Pieces)%PieceHashSize != 0:
		return nil, fmt.Errorf("piece hashes are %d bytes, not a multiple of %d", len(f.Pieces), PieceHashSize)
	}
	// A file of size 0 has no pieces; a piece size without hashes is a
	// catalog that has not hashed pieces yet, which is legal and omitted.
	if len(f.Pieces) == 0 {
		return nil, nil
	}
	n := len(f.Pieces) / PieceHashSize
	want := f.Size / f.PieceSize // ceil without Size+PieceSize-1 overflowing
	if f.Size%f.PieceSize != 0 {
		want++
	}
	if int64(n) != want {
		return nil, fmt.Errorf("%d piece hashes, want %d for size %d in pieces of %d", n, want, f.Size, f.PieceSize)
	}
	out := make([]string, n)
	for i := range out {
		out[i] = hex.EncodeToString(f.Pieces[i*PieceHashSize : (i+1)*PieceHashSize])
	}
	return out, nil
}

func checkMirrorURL(u URL) (checkedURL, error) {
	scheme, err := checkURL(u.URL)
	if err != nil {
		return checkedURL{}, err
	}
	if u.Priority < 1 || u.Priority > maxPriority {
		return checkedURL{}, fmt.Errorf("%s: priority %d outside 1..%d", u.URL, u.Priority, maxPriority)
	}
	loc := u.Location
	if loc != "" {
		if len(loc) != 2 || !isASCIILetter(loc[0]) || !isASCIILetter(loc[1]) {
			return checkedURL{}, fmt.Errorf("%s: location %q is not an ISO 3166-1 alpha-2 code", u.URL, loc)
		}
		loc = strings.ToLower(loc)
	}
	return checkedURL{url: u.URL, scheme: scheme, location: loc, priority: u.Priority}, nil
}

func isASCIILetter(b byte) bool { return b|0x20 >= 'a' && b|0x20 <= 'z' }

// checkURL returns the URL's lower-case scheme.
func checkURL(s string) (string, error) {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b <= ' ' || b >= 0x7f {
			return "", fmt.Errorf("URL %q: byte 0x%02x at %d must be percent-encoded by the caller", s, b, i)
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("URL %q: %w", s, err)
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "http", "https", "ftp", "rsync":
	case "":
		return "", fmt.Errorf("URL %q is not absolute", s)
	default:
		return "", fmt.Errorf("URL %q: scheme %q is not http, https, ftp or rsync", s, u.Scheme)
	}
	if u.Host == "" {
		return "", fmt.Errorf("URL %q has no host", s)
	}
	return scheme, nil
}

// safeName returns name with the bytes XML 1.0 cannot carry percent-encoded
// (see the package documentation).
func safeName(name string) (string, error) {
	switch {
	case name == "", name == ".", name == "..":
		return "", fmt.Errorf("file name %q: not a file name", name)
	case strings.ContainsAny(name, "/\x00"):
		return "", fmt.Errorf("file name %q: contains '/' or NUL, which could leave the client's download directory", name)
	}
	var b strings.Builder
	for i := 0; i < len(name); {
		r, n := utf8.DecodeRuneInString(name[i:])
		if (r == utf8.RuneError && n == 1) || r < 0x20 || r == 0x7f || r == 0xfffe || r == 0xffff {
			for _, c := range []byte(name[i : i+n]) {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		} else {
			b.WriteString(name[i : i+n])
		}
		i += n
	}
	return b.String(), nil
}

// render writes doc only once it has been fully encoded, so a failure leaves
// w untouched and the caller can still answer with something else.
func render(w io.Writer, doc any) error {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	buf.WriteByte('\n')
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// Meta4 writes an RFC 5854 Metalink 4 document describing f on urls.
func Meta4(w io.Writer, f File, urls []URL, o Options) error {
	c, err := check(f, urls, o)
	if err != nil {
		return fmt.Errorf("metalink: meta4: %w", err)
	}
	doc := m4Doc{Generator: o.Generator, File: m4File{Name: c.name, Size: c.size}}
	if o.Origin != "" {
		doc.Origin = &m4Origin{Dynamic: true, URL: o.Origin}
	}
	if !o.Published.IsZero() {
		doc.Published = o.Published.UTC().Format(time.RFC3339)
	}
	for _, h := range c.hashes {
		doc.File.Hashes = append(doc.File.Hashes, m4Hash{Type: h.meta4, Value: h.hex})
	}
	if len(c.pieces) > 0 {
		doc.File.Pieces = &m4Pieces{Length: c.pieceSize, Type: "sha-256", Hashes: c.pieces}
	}
	for _, u := range c.urls {
		doc.File.URLs = append(doc.File.URLs, m4URL{Location: u.location, Priority: u.priority, URL: u.url})
	}
	if err := render(w, doc); err != nil {
		return fmt.Errorf("metalink: meta4 %q: %w", c.name, err)
	}
	return nil
}

// Metalink3 writes a Metalink 3.0 document describing f on urls.
func Metalink3(w io.Writer, f File, urls []URL, o Options) error {
	c, err := check(f, urls, o)
	if err != nil {
		return fmt.Errorf("metalink: metalink3: %w", err)
	}
	doc := v3Doc{Version: "3.0", Type: "dynamic", Origin: o.Origin, Generator: o.Generator}
	if !o.Published.IsZero() {
		// RFC 822 as the 3.0 spec asks, with a four-digit year (RFC 1123).
		doc.PubDate = o.Published.UTC().Format(time.RFC1123)
	}
	file := v3File{Name: c.name, Size: c.size}
	if len(c.hashes) > 0 || len(c.pieces) > 0 {
		v := &v3Verification{}
		for _, h := range c.hashes {
			v.Hashes = append(v.Hashes, v3Hash{Type: h.v3, Value: h.hex})
		}
		if len(c.pieces) > 0 {
			p := &v3Pieces{Length: c.pieceSize, Type: "sha256"}
			for i, h := range c.pieces {
				p.Hashes = append(p.Hashes, v3PieceHash{Piece: i, Value: h})
			}
			v.Pieces = p
		}
		file.Verification = v
	}
	for _, u := range c.urls {
		file.URLs = append(file.URLs, v3URL{Type: u.scheme, Location: u.location, Preference: preference(u.priority), URL: u.url})
	}
	doc.Files = []v3File{file}
	if err := render(w, doc); err != nil {
		return fmt.Errorf("metalink: metalink3 %q: %w", c.name, err)
	}
	return nil
}

// preference maps RFC 5854's priority (1 best) to Metalink 3's preference
// (100 best, 1 worst).
func preference(priority int) int { return max(1, 101-priority) }

// Metalink 4 elements (RFC 5854 section 4).
type m4Doc struct {
	XMLName   xml.Name  `xml:"urn:ietf:params:xml:ns:metalink metalink"`
	Generator string    `xml:"generator,omitempty"`
	Origin    *m4Origin `xml:"origin"`
	Published string    `xml:"published,omitempty"`
	File      m4File    `xml:"file"`
}

type m4Origin struct {
	Dynamic bool   `xml:"dynamic,attr"`
	URL     string `xml:",chardata"`
}

type m4File struct {
	Name   string    `xml:"name,attr"`
	Size   int64     `xml:"size"`
	Hashes []m4Hash  `xml:"hash"`
	Pieces *m4Pieces `xml:"pieces"`
	URLs   []m4URL   `xml:"url"`
}

type m4Hash struct {
	Type  string `xml:"type,attr"`
	Value string `xml:",chardata"`
}

type m4Pieces struct {
	Length int64    `xml:"length,attr"`
	Type   string   `xml:"type,attr"`
	Hashes []string `xml:"hash"`
}

type m4URL struct {
	Location string `xml:"location,attr,omitempty"`
	Priority int    `xml:"priority,attr"`
	URL      string `xml:",chardata"`
}

// Metalink 3.0 elements (metalinker.org 3.0 specification).
type v3Doc struct {
	XMLName   xml.Name `xml:"http://www.metalinker.org/ metalink"`
	Version   string   `xml:"version,attr"`
	Type      string   `xml:"type,attr"`
	Origin    string   `xml:"origin,attr,omitempty"`
	Generator string   `xml:"generator,attr,omitempty"`
	PubDate   string   `xml:"pubdate,attr,omitempty"`
	Files     []v3File `xml:"files>file"`
}

type v3File struct {
	Name         string          `xml:"name,attr"`
	Size         int64           `xml:"size"`
	Verification *v3Verification `xml:"verification"`
	URLs         []v3URL         `xml:"resources>url"`
}

type v3Verification struct {
	Hashes []v3Hash  `xml:"hash"`
	Pieces *v3Pieces `xml:"pieces"`
}

type v3Hash struct {
	Type  string `xml:"type,attr"`
	Value string `xml:",chardata"`
}

type v3Pieces struct {
	Length int64         `xml:"length,attr"`
	Type   string        `xml:"type,attr"`
	Hashes []v3PieceHash `xml:"hash"`
}

type v3PieceHash struct {
	Piece int    `xml:"piece,attr"`
	Value string `xml:",chardata"`
}

type v3URL struct {
	Type       string `xml:"type,attr"`
	Location   string `xml:"location,attr,omitempty"`
	Preference int    `xml:"preference,attr"`
	URL        string `xml:",chardata"`
}
