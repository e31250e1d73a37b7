package pages

import (
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/web"
)

func TestFormatting(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0 s", 250 * time.Millisecond: "250 ms", 45 * time.Second: "45 s", 12 * time.Minute: "12 min",
		3 * time.Hour: "3 h", 3*time.Hour + 5*time.Minute: "3 h 5 min", 47 * time.Hour: "47 h",
		50 * time.Hour: "2 d 2 h", 72 * time.Hour: "3 d", -time.Minute: "0 s",
	} {
		if got := duration(d); got != want {
			t.Errorf("duration(%v) = %q, want %q", d, got, want)
		}
	}
	for mbps, want := range map[int64]string{0: "—", 100: "100 Mbit/s", 1000: "1 Gbit/s", 2500: "2.5 Gbit/s", 40000: "40 Gbit/s"} {
		if got := bandwidth(mbps); got != want {
			t.Errorf("bandwidth(%d) = %q, want %q", mbps, got, want)
		}
	}
	for p, want := range map[float64]string{0: "0 %", 100: "100 %", 99.96: "99.9 %", 50.25: "50.2 %", 120: "100 %", -3: "0 %"} {
		if got := percent(p); got != want {
			t.Errorf("percent(%v) = %q, want %q", p, got, want)
		}
	}
	for raw, ok := range map[string]bool{
		"https://a.example/": true, "rsync://a.example/m/": true, "ftp://a.example/": true,
		"javascript:alert(1)": false, "//a.example/": false, "data:text/html,x": false,
		"https://user:pw@a.example/": false, "": false, "gopher://a.example/": false,
	} {
		if _, got := linkURL(raw, "http", "https", "ftp", "rsync"); got != ok {
			t.Errorf("linkURL(%q) = %v, want %v", raw, got, ok)
		}
	}
	if v := viewState("exploded"); v.Label != "exploded" || v.Class != "unknown" {
		t.Errorf("a state the pages do not know: %+v", v)
	}
}

func TestOutlines(t *testing.T) {
	b, err := fs.ReadFile(web.FS, "map/countries-110m.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 150<<10 {
		t.Errorf("outline file is %d bytes, budget 150 KB", len(b))
	}
	for _, want := range []string{"Natural Earth", "public domain", "world-atlas@2.0.2", "SHA-256"} {
		if !strings.Contains(string(b[:1000]), want) {
			t.Errorf("outline file header does not name %q", want)
		}
	}
	o, err := parseOutlines(b)
	if err != nil {
		t.Fatal(err)
	}
	if o.country < 170 || o.width != 3600 || o.height != 1420 {
		t.Errorf("%d countries, %dx%d", o.country, o.width, o.height)
	}
	for _, c := range []struct{ lat, lon, x, y float64 }{
		{0, 0, 1800, 840}, {84, -180, 0, 0}, {-58, 180, 3600, 1420}, {89, 0, 1800, 0}, {-80, 0, 1800, 1420},
	} {
		if x, y := o.project(c.lat, c.lon); x != c.x || y != c.y {
			t.Errorf("project(%v, %v) = %v, %v; want %v, %v", c.lat, c.lon, x, y, c.x, c.y)
		}
	}
	for _, bad := range []string{
		"",
		"004\tX\tM0 0l1 1z\n",                // no proj line
		"proj 10 84\n004\tX\tM0 0z\n",        // short proj
		"proj 10 84 -58\n004\tX\tM0 0\"/>\n", // markup in path data
		"proj 0 84 -58\n",
	} {
		if _, err := parseOutlines([]byte(bad)); err == nil {
			t.Errorf("parseOutlines accepted %q", bad)
		}
	}
}
