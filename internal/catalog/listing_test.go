package catalog

import (
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/scan"
)

func TestFromListing(t *testing.T) {
	mt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	listing := []scan.Entry{
		{Path: "/pub/staged/x.iso", Type: scan.File, Size: 5, Mode: 0o644, ModTime: mt},
		{Path: "/", Type: scan.Dir, Mode: 0o755},
		{Path: "/pub", Type: scan.Dir, Mode: 0o755},
		{Path: "/pub/staged", Type: scan.Dir, Mode: 0o750},
		{Path: "/pub/a.iso", Type: scan.File, Size: 7, Mode: 0o644, ModTime: mt},
		{Path: "/pub/private.key", Type: scan.File, Size: 1, Mode: 0o600},
		{Path: "/pub/tmp", Type: scan.Dir, Mode: 0o755},
		{Path: "/pub/tmp/junk", Type: scan.File, Mode: 0o644},
		{Path: "/pub/latest", Type: scan.Symlink, Target: "a.iso", Mode: 0o777},
	}
	ex, _ := ParseExcludes([]string{"tmp/"})
	got := byPath(FromListing(listing, ex))
	if len(got) != 6 {
		t.Fatalf("%d entries: %v", len(got), got)
	}
	for p, staged := range map[string]bool{"/pub": false, "/pub/a.iso": false, "/pub/staged": true, "/pub/staged/x.iso": true, "/pub/private.key": true, "/pub/latest": false} {
		if e := got[p]; e == nil || e.Staged != staged {
			t.Errorf("%s: %+v, want staged=%v", p, e, staged)
		}
	}
	if got["/pub/a.iso"].Size != 7 || !got["/pub/a.iso"].ModTime.Equal(mt) || got["/pub/latest"].Target != "a.iso" {
		t.Fatal("fields lost")
	}
}
