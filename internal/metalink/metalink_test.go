package metalink

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

const mib = 1 << 20

// seededBytes is deterministic so golden files and hashes stay stable.
func seededBytes(n int, seed uint64) []byte {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	b := make([]byte, n)
	_, _ = r.Read(b)
	return b
}

// describe computes a File from content the way the catalog would.
func describe(name string, data []byte, pieceSize int64) File {
	s256 := sha256.Sum256(data)
	s1 := sha1.Sum(data)
	m5 := md5.Sum(data)
	s512 := sha512.Sum512(data)
	f := File{
		Name:    name,
		Size:    int64(len(data)),
		ModTime: time.Date(2024, 4, 16, 9, 30, 0, 0, time.UTC),
		SHA256:  hex.EncodeToString(s256[:]),
		SHA1:    hex.EncodeToString(s1[:]),
		MD5:     hex.EncodeToString(m5[:]),
		SHA512:  hex.EncodeToString(s512[:]),
	}
	if pieceSize > 0 {
		f.PieceSize = pieceSize
		for off := int64(0); off < int64(len(data)); off += pieceSize {
			h := sha256.Sum256(data[off:min(off+pieceSize, int64(len(data)))])
			f.Pieces = append(f.Pieces, h[:]...)
		}
	}
	return f
}

// fixture is a fully populated File (2.5 MiB in 1 MiB pieces, so the last
// piece is short) and three mirrors given out of priority order.
func fixture() (File, []URL, Options) {
	f := describe("Fedora-40-x86_64.iso", seededBytes(5*mib/2, 1), mib)
	urls := []URL{
		{URL: "http://mirror.example.com/fedora/releases/40/Fedora-40-x86_64.iso", Location: "US", Priority: 2},
		{URL: "ftp://ftp.example.net/pub/fedora/releases/40/Fedora-40-x86_64.iso", Priority: 3},
		{URL: "https://ftp.example.de/fedora/releases/40/Fedora-40-x86_64.iso", Location: "DE", Priority: 1},
	}
	o := Options{
		Published: time.Date(2024, 4, 23, 12, 0, 0, 0, time.FixedZone("CEST", 2*3600)),
		Origin:    "https://download.example.org/fedora/releases/40/Fedora-40-x86_64.iso.meta4",
		Generator: "mirrorkit/1.0.0",
	}
	return f, urls, o
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		golden string
		render func(io.Writer, File, []URL, Options) error
	}{
		{"fedora.meta4.golden", Meta4},
		{"fedora.metalink.golden", Metalink3},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			f, urls, o := fixture()
			var buf bytes.Buffer
			if err := tc.render(&buf, f, urls, o); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("output differs from %s (go test -update rewrites it):\n%s", path, buf.Bytes())
			}
		})
	}
}

// RFC 5854 elements, as a client would decode them. Tags carry the
// namespace so an element in the wrong namespace does not decode.
const nsMeta4 = "urn:ietf:params:xml:ns:metalink"

type rfcMetalink struct {
	XMLName   xml.Name     `xml:"urn:ietf:params:xml:ns:metalink metalink"`
	Generator string       `xml:"urn:ietf:params:xml:ns:metalink generator"`
	Origin    rfcOrigin    `xml:"urn:ietf:params:xml:ns:metalink origin"`
	Published string       `xml:"urn:ietf:params:xml:ns:metalink published"`
	Files     []rfcFile    `xml:"urn:ietf:params:xml:ns:metalink file"`
	Other     []anyElement `xml:",any"`
}

type anyElement struct{ XMLName xml.Name }

type rfcOrigin struct {
	Dynamic string `xml:"dynamic,attr"`
	Value   string `xml:",chardata"`
}

type rfcFile struct {
	Name   string       `xml:"name,attr"`
	Size   string       `xml:"urn:ietf:params:xml:ns:metalink size"`
	Hashes []rfcHash    `xml:"urn:ietf:params:xml:ns:metalink hash"`
	Pieces []rfcPieces  `xml:"urn:ietf:params:xml:ns:metalink pieces"`
	URLs   []rfcURL     `xml:"urn:ietf:params:xml:ns:metalink url"`
	Other  []anyElement `xml:",any"`
}

type rfcHash struct {
	Type  string `xml:"type,attr"`
	Value string `xml:",chardata"`
}

type rfcPieces struct {
	Length string   `xml:"length,attr"`
	Type   string   `xml:"type,attr"`
	Hashes []string `xml:"urn:ietf:params:xml:ns:metalink hash"`
}

type rfcURL struct {
	Attrs []xml.Attr `xml:",any,attr"`
	Value string     `xml:",chardata"`
}

func (u rfcURL) attr(name string) (string, bool) {
	for _, a := range u.Attrs {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

var lowerHex = regexp.MustCompile(`^[0-9a-f]+$`)

func TestMeta4AgainstRFC5854Elements(t *testing.T) {
	f, urls, o := fixture()
	var buf bytes.Buffer
	if err := Meta4(&buf, f, urls, o); err != nil {
		t.Fatal(err)
	}
	requireWellFormed(t, buf.Bytes())
	var m rfcMetalink
	if err := xml.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m.XMLName.Space != nsMeta4 {
		t.Errorf("root namespace %q, want %q", m.XMLName.Space, nsMeta4)
	}
	if len(m.Other) > 0 {
		t.Errorf("unexpected elements under <metalink>: %v", m.Other)
	}
	if m.Generator != o.Generator {
		t.Errorf("generator %q, want %q", m.Generator, o.Generator)
	}
	if m.Origin.Dynamic != "true" || m.Origin.Value != o.Origin {
		t.Errorf("origin %+v, want dynamic=true %q", m.Origin, o.Origin)
	}
	// RFC 5854 4.2.11: an RFC 3339 date-time.
	pub, err := time.Parse(time.RFC3339, m.Published)
	if err != nil || !pub.Equal(o.Published) {
		t.Errorf("published %q (%v), want %v", m.Published, err, o.Published)
	}
	if len(m.Files) != 1 {
		t.Fatalf("%d <file> elements, want 1", len(m.Files))
	}
	mf := m.Files[0]
	if len(mf.Other) > 0 {
		t.Errorf("unexpected elements under <file>: %v", mf.Other)
	}
	if mf.Name != f.Name {
		t.Errorf("name %q, want %q", mf.Name, f.Name)
	}
	if mf.Size != "2621440" {
		t.Errorf("size %q, want 2621440", mf.Size)
	}
	// RFC 5854 4.2.7 names hashes by the IANA Hash Function Textual Names.
	want := map[string]string{"sha-256": f.SHA256, "sha-1": f.SHA1, "md5": f.MD5, "sha-512": f.SHA512}
	got := map[string]string{}
	for _, h := range mf.Hashes {
		if _, dup := got[h.Type]; dup {
			t.Errorf("hash type %q twice", h.Type)
		}
		if !lowerHex.MatchString(h.Value) {
			t.Errorf("hash %s %q is not lower-case hex", h.Type, h.Value)
		}
		got[h.Type] = h.Value
	}
	if len(got) != len(want) {
		t.Errorf("hash types %v, want %v", got, want)
	}
	for typ, v := range want {
		if got[typ] != v {
			t.Errorf("hash %s = %q, want %q", typ, got[typ], v)
		}
	}
	if len(mf.Pieces) != 1 {
		t.Fatalf("%d <pieces>, want 1", len(mf.Pieces))
	}
	p := mf.Pieces[0]
	if p.Type != "sha-256" || p.Length != "1048576" {
		t.Errorf("pieces type=%q length=%q, want sha-256 1048576", p.Type, p.Length)
	}
	if n := (f.Size + f.PieceSize - 1) / f.PieceSize; int64(len(p.Hashes)) != n {
		t.Errorf("%d piece hashes, want ceil(%d/%d) = %d", len(p.Hashes), f.Size, f.PieceSize, n)
	}
	for i, h := range p.Hashes {
		if want := hex.EncodeToString(f.Pieces[i*32 : i*32+32]); h != want {
			t.Errorf("piece %d hash %q, want %q", i, h, want)
		}
	}
	if len(mf.URLs) != len(urls) {
		t.Fatalf("%d <url>, want %d", len(mf.URLs), len(urls))
	}
	wantURL := []struct{ loc, url string }{{"de", urls[2].URL}, {"us", urls[0].URL}, {"", urls[1].URL}}
	prev := 0
	for i, u := range mf.URLs {
		pr, ok := u.attr("priority")
		if !ok {
			t.Errorf("url %d has no priority", i)
		}
		var n int
		for _, c := range pr {
			n = n*10 + int(c-'0')
		}
		if n < prev || n < 1 || n > 999999 {
			t.Errorf("url %d priority %q after %d: want ascending within 1..999999", i, pr, prev)
		}
		prev = n
		loc, hasLoc := u.attr("location")
		if wantURL[i].loc == "" && hasLoc {
			t.Errorf("url %d: location=%q written for an unknown location", i, loc)
		}
		if loc != wantURL[i].loc || loc != strings.ToLower(loc) {
			t.Errorf("url %d location %q, want lower-case %q", i, loc, wantURL[i].loc)
		}
		if u.Value != wantURL[i].url {
			t.Errorf("url %d = %q, want %q", i, u.Value, wantURL[i].url)
		}
	}
}

// Metalink 3.0 elements, as aria2c's and libzypp's parsers read them.
type v3Metalink struct {
	XMLName   xml.Name `xml:"http://www.metalinker.org/ metalink"`
	Version   string   `xml:"version,attr"`
	Type      string   `xml:"type,attr"`
	Origin    string   `xml:"origin,attr"`
	Generator string   `xml:"generator,attr"`
	PubDate   string   `xml:"pubdate,attr"`
	Files     []struct {
		Name   string `xml:"name,attr"`
		Size   int64  `xml:"http://www.metalinker.org/ size"`
		Hashes []struct {
			Type  string `xml:"type,attr"`
			Value string `xml:",chardata"`
		} `xml:"http://www.metalinker.org/ verification>hash"`
		Pieces struct {
			Length int64  `xml:"length,attr"`
			Type   string `xml:"type,attr"`
			Hashes []struct {
				Piece int    `xml:"piece,attr"`
				Value string `xml:",chardata"`
			} `xml:"http://www.metalinker.org/ hash"`
		} `xml:"http://www.metalinker.org/ verification>pieces"`
		URLs []struct {
			Type       string `xml:"type,attr"`
			Location   string `xml:"location,attr"`
			Preference int    `xml:"preference,attr"`
			Value      string `xml:",chardata"`
		} `xml:"http://www.metalinker.org/ resources>url"`
	} `xml:"http://www.metalinker.org/ files>file"`
}

func TestMetalink3Elements(t *testing.T) {
	f, urls, o := fixture()
	var buf bytes.Buffer
	if err := Metalink3(&buf, f, urls, o); err != nil {
		t.Fatal(err)
	}
	requireWellFormed(t, buf.Bytes())
	var m v3Metalink
	if err := xml.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m.Version != "3.0" || m.Type != "dynamic" || m.Origin != o.Origin || m.Generator != o.Generator {
		t.Errorf("root attributes version=%q type=%q origin=%q generator=%q", m.Version, m.Type, m.Origin, m.Generator)
	}
	if pub, err := time.Parse(time.RFC1123, m.PubDate); err != nil || !pub.Equal(o.Published) {
		t.Errorf("pubdate %q (%v), want RFC 822 form of %v", m.PubDate, err, o.Published)
	}
	if len(m.Files) != 1 {
		t.Fatalf("%d files, want 1", len(m.Files))
	}
	mf := m.Files[0]
	if mf.Name != f.Name || mf.Size != f.Size {
		t.Errorf("file %q size %d", mf.Name, mf.Size)
	}
	got := map[string]string{}
	for _, h := range mf.Hashes {
		got[h.Type] = h.Value
	}
	want := map[string]string{"sha256": f.SHA256, "sha1": f.SHA1, "md5": f.MD5, "sha512": f.SHA512}
	if len(got) != len(want) {
		t.Errorf("hashes %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("hash %s = %q, want %q", k, got[k], v)
		}
	}
	if mf.Pieces.Type != "sha256" || mf.Pieces.Length != mib || len(mf.Pieces.Hashes) != 3 {
		t.Errorf("pieces type=%q length=%d count=%d", mf.Pieces.Type, mf.Pieces.Length, len(mf.Pieces.Hashes))
	}
	for i, h := range mf.Pieces.Hashes {
		if h.Piece != i || h.Value != hex.EncodeToString(f.Pieces[i*32:i*32+32]) {
			t.Errorf("piece %d: piece=%d %q", i, h.Piece, h.Value)
		}
	}
	wantURL := []struct {
		typ, loc string
		pref     int
	}{{"https", "de", 100}, {"http", "us", 99}, {"ftp", "", 98}}
	if len(mf.URLs) != len(wantURL) {
		t.Fatalf("%d urls", len(mf.URLs))
	}
	for i, u := range mf.URLs {
		w := wantURL[i]
		if u.Type != w.typ || u.Location != w.loc || u.Preference != w.pref {
			t.Errorf("url %d: type=%q location=%q preference=%d, want %+v", i, u.Type, u.Location, u.Preference, w)
		}
	}
}

func TestPreference(t *testing.T) {
	for prio, want := range map[int]int{1: 100, 2: 99, 100: 1, 101: 1, 999999: 1} {
		if got := preference(prio); got != want {
			t.Errorf("preference(%d) = %d, want %d", prio, got, want)
		}
	}
}

func TestRsync(t *testing.T) {
	f, urls, o := fixture()
	urls = append(urls, URL{URL: "rsync://rsync.example.org/fedora/Fedora-40-x86_64.iso", Location: "NL", Priority: 1})
	var buf bytes.Buffer
	if err := Meta4(&buf, f, urls, o); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte("rsync://")) {
		t.Errorf("rsync URL written without IncludeRsync:\n%s", buf.Bytes())
	}
	o.IncludeRsync = true
	buf.Reset()
	if err := Metalink3(&buf, f, urls, o); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte(`<url type="rsync" location="nl" preference="100">rsync://`)) {
		t.Errorf("rsync URL missing with IncludeRsync:\n%s", buf.Bytes())
	}
	o.IncludeRsync = false
	err := Meta4(io.Discard, f, urls[3:], o)
	if err == nil || !strings.Contains(err.Error(), "rsync") {
		t.Errorf("only rsync URLs: err = %v, want one naming rsync", err)
	}
}

func TestOptionalDocumentFields(t *testing.T) {
	f, urls, _ := fixture()
	f.SHA1, f.MD5, f.SHA512, f.PieceSize, f.Pieces = "", "", "", 0, nil
	for name, render := range map[string]func(io.Writer, File, []URL, Options) error{"meta4": Meta4, "metalink3": Metalink3} {
		var buf bytes.Buffer
		if err := render(&buf, f, urls, Options{}); err != nil {
			t.Fatal(name, err)
		}
		requireWellFormed(t, buf.Bytes())
		for _, absent := range []string{"generator", "origin", "published", "pubdate", "pieces", "sha1", "sha-1", "md5", "sha512", "sha-512"} {
			if bytes.Contains(buf.Bytes(), []byte(absent)) {
				t.Errorf("%s: %q written though unset:\n%s", name, absent, buf.Bytes())
			}
		}
	}
}

func TestHostileNames(t *testing.T) {
	_, urls, o := fixture()
	for _, tc := range []struct{ in, want string }{
		{`a<b&c">d'.iso`, `a<b&c">d'.iso`}, // escaped by XML, read back unchanged
		{"caf\xe9.iso", "caf%E9.iso"},      // Latin-1 é
		{"bad\xc3\x28.iso", "bad%C3(.iso"}, // truncated UTF-8 sequence
		{"new\nline\ttab\r.iso", "new%0Aline%09tab%0D.iso"},
		{"bell\x07del\x7f", "bell%07del%7F"},
		{"non\uFFFEchar\uFFFF", "non%EF%BF%BEchar%EF%BF%BF"},
		{"100% Fedora ünïcode 日本.iso", "100% Fedora ünïcode 日本.iso"},
		{"\xff\xfe", "%FF%FE"},
	} {
		for name, render := range map[string]func(io.Writer, File, []URL, Options) error{"meta4": Meta4, "metalink3": Metalink3} {
			f := File{Name: tc.in, Size: 10}
			var buf bytes.Buffer
			if err := render(&buf, f, urls, o); err != nil {
				t.Errorf("%s(%q): %v", name, tc.in, err)
				continue
			}
			requireWellFormed(t, buf.Bytes())
			if got := fileNameAttr(t, buf.Bytes()); got != tc.want {
				t.Errorf("%s(%q): name read back as %q, want %q", name, tc.in, got, tc.want)
			}
		}
	}
}

// fileNameAttr decodes the name attribute of the first <file>.
func fileNameAttr(t *testing.T, doc []byte) string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	for {
		tok, err := d.Token()
		if err != nil {
			t.Fatalf("no <file>: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "file" {
			for _, a := range se.Attr {
				if a.Name.Local == "name" {
					return a.Value
				}
			}
		}
	}
}

func TestRefused(t *testing.T) {
	good, goodURLs, o := fixture()
	for _, tc := range []struct {
		name    string
		mutate  func(*File, *[]URL, *Options)
		wantErr string
	}{
		{"empty name", func(f *File, _ *[]URL, _ *Options) { f.Name = "" }, "not a file name"},
		{"dot-dot", func(f *File, _ *[]URL, _ *Options) { f.Name = ".." }, "not a file name"},
		{"slash", func(f *File, _ *[]URL, _ *Options) { f.Name = "../../etc/passwd" }, "'/'"},
		{"NUL", func(f *File, _ *[]URL, _ *Options) { f.Name = "a\x00b" }, "NUL"},
		{"negative size", func(f *File, _ *[]URL, _ *Options) { f.Size = -1 }, "negative size"},
		{"short sha-256", func(f *File, _ *[]URL, _ *Options) { f.SHA256 = f.SHA256[:62] }, "sha-256 digest has 62 hex digits"},
		{"non-hex sha-1", func(f *File, _ *[]URL, _ *Options) { f.SHA1 = "zz" + f.SHA1[2:] }, "sha-1 digest: encoding/hex"},
		{"md5 length", func(f *File, _ *[]URL, _ *Options) { f.MD5 += "00" }, "md5 digest has 34"},
		{"sha-512 odd", func(f *File, _ *[]URL, _ *Options) { f.SHA512 = f.SHA512[:127] + "g" }, "sha-512 digest"},
		{"pieces not multiple of 32", func(f *File, _ *[]URL, _ *Options) { f.Pieces = f.Pieces[:33] }, "not a multiple of 32"},
		{"too few pieces", func(f *File, _ *[]URL, _ *Options) { f.Pieces = f.Pieces[:64] }, "2 piece hashes, want 3"},
		{"pieces without size", func(f *File, _ *[]URL, _ *Options) { f.PieceSize = 0 }, "piece size 0"},
		{"huge size, one piece", func(f *File, _ *[]URL, _ *Options) { f.Size = 1<<63 - 1; f.PieceSize = 1 << 62 }, "3 piece hashes, want 2"},
		{"negative piece size", func(f *File, _ *[]URL, _ *Options) { f.PieceSize = -1 }, "negative piece size"},
		{"no URLs", func(_ *File, u *[]URL, _ *Options) { *u = nil }, "no URLs"},
		{"URL with space", func(_ *File, u *[]URL, _ *Options) { (*u)[1].URL = "http://m.example.com/a b.iso" }, "byte 0x20"},
		{"URL with newline", func(_ *File, u *[]URL, _ *Options) { (*u)[1].URL = "http://m.example.com/a\nb" }, "byte 0x0a"},
		{"URL not ASCII", func(_ *File, u *[]URL, _ *Options) { (*u)[1].URL = "http://m.example.com/café" }, "percent-encoded"},
		{"relative URL", func(_ *File, u *[]URL, _ *Options) { (*u)[0].URL = "/fedora/x.iso" }, "not absolute"},
		{"no host", func(_ *File, u *[]URL, _ *Options) { (*u)[0].URL = "http:///x.iso" }, "no host"},
		{"file scheme", func(_ *File, u *[]URL, _ *Options) { (*u)[0].URL = "file://host/etc/passwd" }, `scheme "file"`},
		{"bad location", func(_ *File, u *[]URL, _ *Options) { (*u)[0].Location = "DEU" }, "alpha-2"},
		{"priority 0", func(_ *File, u *[]URL, _ *Options) { (*u)[0].Priority = 0 }, "priority 0"},
		{"priority too high", func(_ *File, u *[]URL, _ *Options) { (*u)[0].Priority = 1000000 }, "priority 1000000"},
		{"ftp origin", func(_ *File, _ *[]URL, o *Options) { o.Origin = "ftp://x.example/a.meta4" }, "not an http or https URL"},
		{"origin with space", func(_ *File, _ *[]URL, o *Options) { o.Origin = "https://x.example/a b.meta4" }, "origin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for name, render := range map[string]func(io.Writer, File, []URL, Options) error{"meta4": Meta4, "metalink3": Metalink3} {
				f := good
				f.Pieces = bytes.Clone(good.Pieces)
				urls := append([]URL(nil), goodURLs...)
				opts := o
				tc.mutate(&f, &urls, &opts)
				var buf bytes.Buffer
				err := render(&buf, f, urls, opts)
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("%s: err = %v, want one containing %q", name, err, tc.wantErr)
				}
				if buf.Len() != 0 {
					t.Errorf("%s: wrote %d bytes before refusing", name, buf.Len())
				}
			}
		})
	}
}

func TestUpperCaseInputNormalized(t *testing.T) {
	f, urls, o := fixture()
	want := f.SHA256
	f.SHA256 = strings.ToUpper(f.SHA256)
	var buf bytes.Buffer
	if err := Meta4(&buf, f, urls, o); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte(`<hash type="sha-256">`+want+`</hash>`)) {
		t.Errorf("upper-case SHA-256 not written lower-case:\n%s", buf.Bytes())
	}
}

type failingWriter struct{}

var errDiskFull = errors.New("disk full")

func (failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

func TestWriteErrorWrapped(t *testing.T) {
	f, urls, o := fixture()
	err := Meta4(failingWriter{}, f, urls, o)
	if !errors.Is(err, errDiskFull) || !strings.Contains(err.Error(), f.Name) {
		t.Errorf("err = %v, want wrapped %v naming the file", err, errDiskFull)
	}
}

// requireWellFormed reads doc as an XML 1.0 parser must: strictly, rejecting
// invalid UTF-8 and characters outside XML's Char production, with one root.
func requireWellFormed(tb testing.TB, doc []byte) {
	tb.Helper()
	if err := wellFormed(doc); err != nil {
		tb.Fatalf("not well-formed XML: %v\n%s", err, doc)
	}
}

func wellFormed(doc []byte) error {
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if roots != 1 || depth != 0 {
		return errors.New("want exactly one closed root element")
	}
	return nil
}
