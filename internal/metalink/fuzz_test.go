package metalink

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzMeta4 feeds arbitrary bytes as the file name: Meta4 must either refuse
// the name, writing nothing, or produce well-formed XML whose name attribute
// is valid UTF-8, free of the characters the package promises to encode, and
// percent-decodes back to the input.
func FuzzMeta4(f *testing.F) {
	for _, seed := range []string{
		"Fedora-40-x86_64.iso", `a<b&c">d'.iso`, "caf\xe9.iso", "new\nline", "\x00", "../x", "..", "",
		"\uFFFE", "\xed\xa0\x80", "]]>", "100%.iso", "日本語.iso", "\x7f\x1b[31m",
	} {
		f.Add(seed)
	}
	// Not fixture(): hashing its 2.5 MiB in every fuzz worker slows startup.
	urls := []URL{{URL: "https://ftp.example.de/pub/x", Location: "DE", Priority: 1}, {URL: "http://mirror.example.com/x", Priority: 2}}
	o := Options{Generator: "mirrorkit/fuzz", Origin: "https://download.example.org/x.meta4"}
	f.Fuzz(func(t *testing.T, name string) {
		var buf bytes.Buffer
		err := Meta4(&buf, File{Name: name, Size: 1}, urls, o)
		if err != nil {
			if buf.Len() != 0 {
				t.Fatalf("refused %q but wrote %d bytes", name, buf.Len())
			}
			return
		}
		if err := wellFormed(buf.Bytes()); err != nil {
			t.Fatalf("name %q: not well-formed: %v\n%s", name, err, buf.Bytes())
		}
		got := fileNameAttr(t, buf.Bytes())
		if !utf8.ValidString(got) {
			t.Fatalf("name %q read back as invalid UTF-8 %q", name, got)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f || r == 0xfffe || r == 0xffff {
				t.Fatalf("name %q read back as %q: %U is not percent-encoded", name, got, r)
			}
		}
		// Without a literal '%' in the input the encoding is reversible,
		// which shows no byte was lost or replaced on the way.
		if !strings.Contains(name, "%") {
			if back, err := url.PathUnescape(got); err != nil || back != name {
				t.Fatalf("name %q read back as %q, which decodes to %q (%v)", name, got, back, err)
			}
		}
	})
}
