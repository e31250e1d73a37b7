package scan

import (
	"errors"
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	good := map[string]string{
		"a/b":              "/a/b",
		"/a//b/./c/":       "/a/b/c",
		"./x":              "/x",
		"caf\xe9.txt":      "/caf\xe9.txt",
		"with space/ü.iso": "/with space/ü.iso",
		"/":                "/",
	}
	for in, want := range good {
		if got, err := CleanPath(in); err != nil || got != want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "../etc/passwd", "a/../../b", "/a/..", "a\x00b", strings.Repeat("a", MaxPathLen+1)} {
		if _, err := CleanPath(bad); !errors.Is(err, ErrBadListing) {
			t.Errorf("CleanPath(%q) err = %v, want ErrBadListing", bad, err)
		}
	}
}

func TestUnder(t *testing.T) {
	pre := []string{"/fedora/", "/epel/9/"}
	for p, want := range map[string]bool{
		"/": true, "/fedora": true, "/fedora/x.iso": true, "/epel": true, "/epel/9": true,
		"/epel/9/x": true, "/epel/8/x": false, "/debian": false, "/fedora-archive/x": false,
	} {
		if got := Under(p, pre); got != want {
			t.Errorf("Under(%q) = %v, want %v", p, got, want)
		}
	}
	if !Under("/anything", nil) {
		t.Error("no prefixes must cover everything")
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "/a/./b/", "caf\xe9", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := CleanPath(in)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") || strings.ContainsRune(p, 0) {
			t.Fatalf("CleanPath(%q) = %q escapes or is unclean", in, p)
		}
		if again, err := CleanPath(p); err != nil || again != p {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", in, p, again, err)
		}
	})
}

func TestCleanPathAllocations(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { CleanPath("/pool/main/p/pkg/x_1.0_amd64.deb") }); n != 0 {
		t.Fatalf("a clean absolute path costs %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() { CleanPath("pool/main/p/pkg/x_1.0_amd64.deb") }); n > 1 {
		t.Fatalf("a clean relative path costs %v allocations", n)
	}
}
