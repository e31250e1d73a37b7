package policy

import (
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	p, err := New(nil, -1)
	if err != nil {
		t.Fatal(err)
	}
	big := int64(10 << 20)
	for path, want := range map[string]Reason{
		"/fedora/releases/40/Everything/x86_64/os/repodata/repomd.xml":         ChangesIn,
		"/fedora/releases/40/Everything/x86_64/os/repodata/abc-primary.xml.gz": Redirect, // content-addressed, immutable
		"/debian/dists/bookworm/InRelease":                                     ChangesIn,
		"/debian/dists/bookworm/Release.gpg":                                   ChangesIn,
		"/debian/pool/main/b/bash/bash_5.2_amd64.deb":                          Redirect,
		"/archlinux/core/os/x86_64/core.db":                                    ChangesIn,
		"/archlinux/core/os/x86_64/core.db.sig":                                ChangesIn,
		"/archlinux/core/os/x86_64/bash-5.2-1-x86_64.pkg.tar.zst":              Redirect,
		"/lastupdate":                    ChangesIn,
		"/sub/lastupdate":                Redirect, // anchored marker only at the root
		"/releases/40/iso/Fedora-40.iso": Redirect,
	} {
		if got := p.Decide(path, big); got != want {
			t.Errorf("Decide(%q) = %q, want %q", path, got, want)
		}
	}
	if got := p.Decide("/pub/tiny.txt", 100); got != SmallFile {
		t.Errorf("tiny file: %q", got)
	}
	if got := p.Decide("/pub/exact.bin", DefaultMinRedirectSize); got != Redirect {
		t.Errorf("a file of exactly the minimum: %q", got)
	}
}

func TestConfigured(t *testing.T) {
	p, err := New([]string{"*.sqlite*", "/private/"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Decide("/repo/primary.sqlite.bz2", 1) != ChangesIn || p.Decide("/repo/repomd.xml", 1) != Redirect || p.Decide("/x", 1) != Redirect {
		t.Fatal("configured patterns replace the defaults; size 0 redirects everything")
	}
	if _, err := New([]string{"["}, 0); err == nil {
		t.Fatal("bad pattern accepted")
	}
}

func TestOutdated(t *testing.T) {
	p, err := New(nil, -1,
		Outdated{Prefix: "/pub", MaxLag: 6 * time.Hour},
		Outdated{Prefix: "/pub/iso/", MaxLag: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !p.AllowsOutdated() {
		t.Fatal("AllowsOutdated")
	}
	for path, want := range map[string]time.Duration{
		"/pub/updates/x.rpm": 6 * time.Hour,
		"/pub/iso/a.iso":     time.Hour, // the most specific prefix decides
		"/pub":               0,         // the directory itself is no file under it
		"/public/x":          0,         // a prefix is a directory, not a string prefix
		"/other/x":           0,
	} {
		if got := p.MaxLag(path); got != want {
			t.Errorf("MaxLag(%q) = %s, want %s", path, got, want)
		}
	}
	all, err := New(nil, -1, Outdated{Prefix: "/", MaxLag: time.Minute})
	if err != nil || all.MaxLag("/any/file") != time.Minute {
		t.Fatalf("prefix / covers the tree: %v", err)
	}
	if none, _ := New(nil, -1); none.AllowsOutdated() || none.MaxLag("/pub/x") != 0 {
		t.Fatal("no rules allow outdated mirrors")
	}
	for _, bad := range [][]Outdated{
		{{Prefix: "pub/", MaxLag: time.Hour}},
		{{Prefix: "/pub/../etc", MaxLag: time.Hour}},
		{{Prefix: "/pub//x", MaxLag: time.Hour}},
		{{Prefix: "/pub/", MaxLag: 0}},
		{{Prefix: "/pub/", MaxLag: MaxOutdatedLag + 1}},
		{{Prefix: "/pub", MaxLag: time.Hour}, {Prefix: "/pub/", MaxLag: 2 * time.Hour}},
	} {
		if _, err := New(nil, -1, bad...); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}
