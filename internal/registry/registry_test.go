package registry_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/registry/registrytest"
)

func TestFixturesAreValid(t *testing.T) {
	s := registrytest.Site("example-org")
	s.Normalize()
	if err := s.Validate(); err != nil {
		t.Fatalf("site fixture: %v", err)
	}
	m := registrytest.Mirror("ftp-de", "example-org")
	m.Normalize()
	if err := m.Validate(); err != nil {
		t.Fatalf("mirror fixture: %v", err)
	}
}

// Every hostile value is rejected on exactly the field it breaks, and only there:
// a message that blames the wrong field sends the user the wrong way.
func TestHostileMirrorValues(t *testing.T) {
	for _, c := range registrytest.HostileMirrors() {
		t.Run(c.Name, func(t *testing.T) {
			m := registrytest.Mirror("ftp-de", "example-org")
			c.Mutate(&m)
			m.Normalize()
			err := m.Validate()
			if err == nil {
				t.Fatalf("accepted %+v", m)
			}
			if !registry.IsInvalid(err) {
				t.Fatalf("error %v is not a validation error", err)
			}
			var es registry.Errors
			if !errorsAs(err, &es) || !slices.Equal(es.Fields(), []string{c.Field}) {
				t.Fatalf("fields = %v, want [%s] (%v)", es.Fields(), c.Field, err)
			}
			if !strings.HasPrefix(err.Error(), c.Field+": ") {
				t.Fatalf("message %q does not start with the field", err)
			}
		})
	}
}

func TestHostileSiteValues(t *testing.T) {
	for _, c := range registrytest.HostileSites() {
		t.Run(c.Name, func(t *testing.T) {
			s := registrytest.Site("example-org")
			c.Mutate(&s)
			s.Normalize()
			err := s.Validate()
			var es registry.Errors
			if err == nil || !errorsAs(err, &es) || !slices.Equal(es.Fields(), []string{c.Field}) {
				t.Fatalf("err = %v, want a rejection on %s", err, c.Field)
			}
		})
	}
}

func errorsAs(err error, es *registry.Errors) bool {
	e, ok := err.(registry.Errors)
	*es = e
	return ok
}

func TestAllProblemsReportedAtOnce(t *testing.T) {
	m := registry.NewMirror("Bad Name", "")
	m.Tier = 9
	m.Normalize()
	var es registry.Errors
	if !errorsAs(m.Validate(), &es) {
		t.Fatal("no validation errors")
	}
	want := []string{"name", "site", "urls", "tier", "location.country"}
	if !slices.Equal(es.Fields(), want) {
		t.Fatalf("fields = %v, want %v", es.Fields(), want)
	}
}

func TestNormalize(t *testing.T) {
	m := registry.NewMirror(" ftp-de ", "example-org")
	m.URLs.HTTP = "http://mirror.example.org:8080/pub"
	m.Location.Country = " de"
	m.Content = []string{"/fedora", "/epel/", "/fedora/"}
	m.Netblocks = []string{"2001:DB8::/32", "192.0.2.0/24"}
	m.ASNs = []uint32{64501, 64500, 64501}
	m.Rules.ExtraCountries = []string{"ch", "at"}
	m.Normalize()
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	check := func(what string, got, want any) {
		t.Helper()
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if !bytes.Equal(g, w) {
			t.Errorf("%s = %s, want %s", what, g, w)
		}
	}
	check("name", m.Name, "ftp-de")
	check("http", m.URLs.HTTP, "http://mirror.example.org:8080/pub/")
	check("country", m.Location.Country, "DE")
	check("continent", m.Location.Continent, "EU")
	check("content", m.Content, []string{"/epel/", "/fedora/"})
	check("netblocks", m.Netblocks, []string{"192.0.2.0/24", "2001:db8::/32"})
	check("asns", m.ASNs, []uint32{64500, 64501})
	check("extra", m.Rules.ExtraCountries, []string{"AT", "CH"})
	check("empty list", m.Rules.ExcludeCountries, []string{})
}

func TestContinentGivenOverridesCountry(t *testing.T) {
	m := registrytest.Mirror("ru-east", "example-org")
	m.Location.Country, m.Location.Continent = "RU", "as"
	m.Normalize()
	if err := m.Validate(); err != nil || m.Location.Continent != "AS" {
		t.Fatalf("continent %q, err %v", m.Location.Continent, err)
	}
}

func TestCarries(t *testing.T) {
	m := registry.NewMirror("m", "s")
	if !m.Carries("/anything/at/all.iso") {
		t.Fatal("a mirror with no content list carries the whole tree")
	}
	m.Content = []string{"/epel/", "/fedora/"}
	for p, want := range map[string]bool{
		"/fedora/releases/x.iso": true, "/fedora": true, "/fedora/": true, "/epel/9/": true,
		"/fedora-secondary/x": false, "/": false, "/debian/": false, "/fed": false,
	} {
		if got := m.Carries(p); got != want {
			t.Errorf("Carries(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestRedactedHidesPrivateData(t *testing.T) {
	m := registrytest.Mirror("ftp-de", "example-org").Redacted()
	s := registrytest.Site("example-org").Redacted()
	b, _ := json.Marshal(struct {
		M registry.Mirror
		S registry.Site
	}{m, s})
	for _, secret := range []string{"Rack B4", "192.0.2.0", "64500", "Escalate", "mirror-admin@", "maintenance", registry.HashToken("mkrt_fixture")} {
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("redacted JSON shows %q: %s", secret, b)
		}
	}
}

func TestMirrorJSONNeverShowsTokenHash(t *testing.T) {
	m := registrytest.Mirror("ftp-de", "example-org")
	b, _ := json.Marshal(m)
	if bytes.Contains(b, []byte(m.TokenHash)) {
		t.Fatalf("mirror JSON shows the token hash: %s", b)
	}
}

func TestReportToken(t *testing.T) {
	tok, hash, err := registry.NewReportToken()
	if err != nil {
		t.Fatal(err)
	}
	tok2, _, _ := registry.NewReportToken()
	if tok == tok2 || !strings.HasPrefix(tok, "mkrt_") || len(tok) < 40 {
		t.Fatalf("tokens %q %q", tok, tok2)
	}
	if strings.Contains(hash, tok) || !registry.VerifyToken(tok, hash) {
		t.Fatal("hash does not verify its token")
	}
	for _, bad := range []string{"", tok2, tok + "x", strings.TrimPrefix(tok, "mkrt_"), hash} {
		if registry.VerifyToken(bad, hash) {
			t.Errorf("VerifyToken(%q) = true", bad)
		}
	}
	if registry.VerifyToken(tok, "") {
		t.Error("a mirror without a token accepts one")
	}
}

func snapshotJSON(t *testing.T, s registry.Snapshot) string {
	var b bytes.Buffer
	if err := s.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestSnapshotCheck(t *testing.T) {
	site := registrytest.Site("example-org")
	site.ID = 1
	up := registrytest.Mirror("tier1", "example-org")
	up.ID = 1
	down := registrytest.Mirror("tier2", "example-org")
	down.ID, down.Tier, down.Upstream = 2, 2, "tier1"
	good := registry.NewSnapshot([]registry.Site{site}, []registry.Mirror{down, up})
	text := snapshotJSON(t, good)
	s, err := registry.ReadSnapshot(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if got := snapshotJSON(t, s); got != text {
		t.Fatalf("round trip changed the snapshot:\n%s\nvs\n%s", got, text)
	}
	if s.Mirrors[0].Name != "tier1" || s.MirrorList()[1].TokenHash != down.TokenHash {
		t.Fatal("snapshot not in id order or token hash lost")
	}

	bad := map[string]string{
		"unknown upstream":   strings.Replace(text, `"upstream": "tier1"`, `"upstream": "ghost"`, 1),
		"same-tier upstream": strings.Replace(text, `"tier": 2`, `"tier": 1`, 1),
		"unknown site":       strings.Replace(text, `"site": "example-org"`, `"site": "nobody"`, 1),
		"unknown field":      strings.Replace(text, `"tier": 2`, `"tier": 2, "teir": 3`, 1),
		"wrong format":       strings.Replace(text, registry.SnapshotFormat, "something-else", 1),
		"future version":     strings.Replace(text, `"version": 1`, `"version": 99`, 1),
		"duplicate id":       strings.Replace(text, `"id": 2`, `"id": 1`, 1),
		"bad country":        strings.Replace(text, `"country": "DE"`, `"country": "ZZ"`, 1),
		"trailing garbage":   text + "{}",
		"truncated":          text[:len(text)/2],
		"not JSON":           "\x00\x01garbage",
	}
	for name, in := range bad {
		if _, err := registry.ReadSnapshot(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzReadSnapshot(f *testing.F) {
	site := registrytest.Site("example-org")
	site.ID = 1
	m := registrytest.Mirror("ftp-de", "example-org")
	m.ID = 1
	var b bytes.Buffer
	s := registry.NewSnapshot([]registry.Site{site}, []registry.Mirror{m})
	_ = s.WriteJSON(&b)
	f.Add(b.String())
	f.Add(`{"format":"mirrorkit-registry","version":1,"sites":[],"mirrors":[]}`)
	f.Fuzz(func(t *testing.T, in string) {
		s, err := registry.ReadSnapshot(strings.NewReader(in))
		if err != nil {
			return
		}
		// Whatever is accepted is valid and survives a round trip unchanged.
		var out bytes.Buffer
		if err := s.WriteJSON(&out); err != nil {
			t.Fatal(err)
		}
		text := out.String()
		s2, err := registry.ReadSnapshot(&out)
		if err != nil {
			t.Fatalf("re-read of an accepted snapshot: %v", err)
		}
		if snapshotJSON(t, s2) != text {
			t.Fatal("round trip not stable")
		}
	})
}

func FuzzMirrorValidate(f *testing.F) {
	f.Add("http://mirror.example.org/pub/", "DE", "/fedora/", "192.0.2.0/24")
	f.Add("rsync://[::1]:873/m/", "de", "fedora", "2001:db8::1/32")
	f.Fuzz(func(t *testing.T, u, cc, content, cidr string) {
		m := registry.NewMirror("fuzz", "site")
		m.URLs.HTTP, m.URLs.Rsync = u, u
		m.Location.Country = cc
		m.Content = []string{content}
		m.Netblocks = []string{cidr}
		m.Normalize()
		if m.Validate() != nil {
			return
		}
		// Accepted values are canonical: normalizing again changes nothing.
		before, _ := json.Marshal(m)
		m.Normalize()
		after, _ := json.Marshal(m)
		if !bytes.Equal(before, after) {
			t.Fatalf("not idempotent: %s vs %s", before, after)
		}
		for _, p := range m.URLs.Offered() {
			if !strings.HasSuffix(m.URLs.Get(p), "/") {
				t.Fatalf("accepted base URL without a trailing slash: %q", m.URLs.Get(p))
			}
		}
	})
}
