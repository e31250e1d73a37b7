package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"

	"github.com/mirrorkit/mirrorkit/internal/geo/geotest"
	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/testutil"
	"github.com/mirrorkit/mirrorkit/internal/testutil/nginx"
	"github.com/mirrorkit/mirrorkit/internal/testutil/pgtest"
	"github.com/mirrorkit/mirrorkit/internal/testutil/rsyncd"
)

var update = flag.Bool("update", false, "rewrite golden files")

var pg pgtest.Shared

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	pg.Close()
	os.Exit(code)
}

// cli runs mirrorkit in-process against one store with a pinned clock, the way
// a user runs it in a shell.
type cli struct {
	t   testing.TB
	dir string
	env []string
	n   atomic.Int64
	// clock, when set, replaces the pinned one (measurements in real time).
	clock func() time.Time
}

// setenv sets one variable of the CLI's environment, replacing it if set.
func (c *cli) setenv(name, value string) {
	for i, kv := range c.env {
		if strings.HasPrefix(kv, name+"=") {
			c.env[i] = name + "=" + value
			return
		}
	}
	c.env = append(c.env, name+"="+value)
}

func newCLI(t testing.TB) *cli {
	dir := t.TempDir()
	return &cli{t: t, dir: dir, env: []string{"MIRRORKIT_STORE_DSN=sqlite:" + filepath.Join(dir, "mirrorkit.db")}}
}

type result struct {
	out, err string
	code     int
}

func (c *cli) runStdin(stdin string, args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return c.runCtx(ctx, stdin, args...)
}

// runCtx runs with the caller's context, for daemons the test stops.
func (c *cli) runCtx(ctx context.Context, stdin string, args ...string) result {
	var out, errb bytes.Buffer
	a := &app{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, env: c.env, now: c.clock}
	if a.now == nil {
		a.now = func() time.Time { return time.Date(2026, 11, 22, 9, 0, int(c.n.Add(1)), 0, time.UTC) }
	}
	code := a.run(ctx, args)
	return result{out.String(), errb.String(), code}
}

func (c *cli) run(args ...string) result {
	c.t.Helper()
	return c.runStdin("", args...)
}

// background runs a daemon command until the returned stop is called, which
// reports an exit other than 0 as a test error.
func (c *cli) background(args ...string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() { done <- c.runCtx(ctx, "", args...) }()
	return func() {
		cancel()
		if r := <-done; r.code != 0 {
			c.t.Errorf("mirrorkit %s: exit %d: %s", strings.Join(args, " "), r.code, r.err)
		}
	}
}

// ok runs a command that must succeed and returns its standard output.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("mirrorkit %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r.out
}

func (c *cli) export() string {
	c.t.Helper()
	return c.ok("registry", "export")
}

// seed registers the example mirror plus a downstream with every flag.
func (c *cli) seed() {
	c.ok("site", "add", "example-org", "--sponsor", "Example Org", "--sponsor-url", "https://www.example.org/",
		"--contact", "admin@example.org,noc@example.org", "--notes", "call before 8")
	c.ok("mirror", "add", "ftp-de", "--site", "example-org", "--http", "http://127.0.0.1:8081/pub/",
		"--rsync", "rsync://127.0.0.1:8730/pub/", "--country", "DE", "--lat", "50.1", "--lon", "8.7",
		"--bandwidth", "1000", "--netblock", "192.0.2.0/24", "--asn", "64500")
	c.ok("mirror", "add", "nz-akl", "--site", "example-org", "--https", "https://[2001:db8::1]:8443/mirror/",
		"--ftp", "ftp://127.0.0.1:2121/pub", "--tier", "2", "--upstream", "ftp-de", "--country", "nz", "--city", "Auckland",
		"--bandwidth", "200", "--score", "50", "--private", "--ipv6", "--ipv4=false", "--large-files=false",
		"--max-file-size", "4GiB", "--content", "/fedora/", "--content", "/epel/", "--netblock", "2001:db8::/32,198.51.100.0/24",
		"--asn", "AS64501", "--country-only", "--continent-only", "--asn-only", "--exclude-country", "AU",
		"--extra-country", "au,ck", "--notes", "rack 4")
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("%s differs from golden file (go test -update rewrites it):\n%s", name, got)
	}
}

// The JSON of `mirror list` is an interface scripts depend on: every field
// name and shape is pinned, and documented in docs/registry-json.md.
func TestMirrorListJSONGolden(t *testing.T) {
	c := newCLI(t)
	c.seed()
	out := c.ok("mirror", "list", "--json")
	golden(t, "mirror-list.json", out)
	var ms []registry.Mirror
	if err := json.Unmarshal([]byte(out), &ms); err != nil || len(ms) != 2 {
		t.Fatalf("not a JSON array of 2 mirrors: %v", err)
	}
	if strings.Contains(out, "token") {
		t.Fatal("mirror list shows token data")
	}
	// Every documented field is in the docs, and the docs name no field the JSON lacks.
	doc, err := os.ReadFile("../../docs/registry-json.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range jsonKeys(t, out) {
		if !bytes.Contains(doc, []byte("`"+f+"`")) {
			t.Errorf("field %q is not documented in docs/registry-json.md", f)
		}
	}
}

// jsonKeys lists every object key in a JSON document, dotted by nesting.
func jsonKeys(t *testing.T, doc string) []string {
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				key := k
				if prefix != "" {
					key = prefix + "." + k
				}
				seen[key] = true
				walk(key, val)
			}
		case []any:
			for _, e := range x {
				walk(prefix, e)
			}
		}
	}
	walk("", v)
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	return out
}

func TestListsAndShows(t *testing.T) {
	c := newCLI(t)
	c.seed()
	table := c.ok("mirror", "list")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "ftp-de ") {
		t.Fatalf("table:\n%s", table)
	}
	// Columns line up: each header starts where its values start.
	col := strings.Index(lines[0], "COUNTRY")
	if lines[1][col:col+2] != "DE" || lines[2][col:col+2] != "NZ" {
		t.Fatalf("columns not aligned:\n%s", table)
	}
	if got := c.ok("mirror", "list", "--site", "nobody"); strings.Count(got, "\n") != 1 {
		t.Fatalf("filter by site: %q", got)
	}
	for _, args := range [][]string{{"site", "list", "--json"}, {"site", "show", "example-org", "--json"},
		{"mirror", "show", "nz-akl", "--json"}, {"version", "--json"}, {"db", "status", "--json"}, {"config", "show", "--json"}} {
		if !json.Valid([]byte(c.ok(args...))) {
			t.Errorf("%v: not JSON", args)
		}
	}
	show := c.ok("mirror", "show", "nz-akl")
	for _, want := range []string{"tier:             2 (upstream: ftp-de)", "Auckland, NZ, OC", "4.0 GiB", "AS64501",
		"country-only; continent-only; asn-only; exclude AU; extra AU,CK", "rack 4", "listed:           private"} {
		if !strings.Contains(show, want) {
			t.Errorf("mirror show lacks %q:\n%s", want, show)
		}
	}
	if s := c.ok("site", "list"); !strings.Contains(s, "example-org  Example Org  2 ") {
		t.Errorf("site list:\n%s", s)
	}
}

func TestEditChangesOnlyWhatIsGiven(t *testing.T) {
	c := newCLI(t)
	c.seed()
	before := mirrorJSON(t, c, "ftp-de")
	c.ok("mirror", "edit", "ftp-de", "--bandwidth", "10000", "--content", "/fedora/,/epel/")
	after := mirrorJSON(t, c, "ftp-de")
	if after.BandwidthMbps != 10000 || strings.Join(after.Content, " ") != "/epel/ /fedora/" {
		t.Fatalf("edit not applied: %+v", after)
	}
	after.BandwidthMbps, after.Content, after.UpdatedAt = before.BandwidthMbps, before.Content, before.UpdatedAt
	b1, _ := json.Marshal(before)
	b2, _ := json.Marshal(after)
	if !bytes.Equal(b1, b2) {
		t.Fatalf("edit changed other fields:\n%s\n%s", b1, b2)
	}
	c.ok("mirror", "edit", "ftp-de", "--content", "", "--lat", "", "--lon", "", "--rename", "ftp-de2")
	m := mirrorJSON(t, c, "ftp-de2")
	if len(m.Content) != 0 || m.Location.Latitude != nil {
		t.Fatalf("clearing failed: %+v", m)
	}
	if got := mirrorJSON(t, c, "nz-akl").Upstream; got != "ftp-de2" {
		t.Fatalf("downstream's upstream after rename: %q", got)
	}
}

func mirrorJSON(t *testing.T, c *cli, name string) registry.Mirror {
	t.Helper()
	var m registry.Mirror
	if err := json.Unmarshal([]byte(c.ok("mirror", "show", name, "--json")), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEnableDisableAndTokens(t *testing.T) {
	c := newCLI(t)
	c.seed()
	c.ok("mirror", "disable", "ftp-de", "--reason", "disk full")
	if m := mirrorJSON(t, c, "ftp-de"); m.Enabled || m.DisabledReason != "disk full" {
		t.Fatalf("after disable: %+v", m)
	}
	c.ok("mirror", "enable", "ftp-de")
	if m := mirrorJSON(t, c, "ftp-de"); !m.Enabled || m.DisabledReason != "" {
		t.Fatalf("after enable: %+v", m)
	}

	var added addedMirror
	if err := json.Unmarshal([]byte(c.ok("mirror", "add", "tok", "--site", "example-org", "--http", "http://t.example.org/", "--country", "FR", "--json")), &added); err != nil {
		t.Fatal(err)
	}
	first := added.ReportToken
	hash := func() string {
		snap, err := registry.ReadSnapshot(strings.NewReader(c.export()))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range snap.Mirrors {
			if m.Name == "tok" {
				return m.TokenHash
			}
		}
		t.Fatal("mirror tok not exported")
		return ""
	}
	h1 := hash()
	if !registry.VerifyToken(first, h1) || strings.Contains(c.export(), first) {
		t.Fatal("stored hash does not match the shown token, or the token itself is stored")
	}
	out := c.ok("mirror", "rotate-token", "tok")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	second := strings.TrimSpace(lines[len(lines)-1])
	h2 := hash()
	if !registry.VerifyToken(second, h2) || registry.VerifyToken(first, h2) {
		t.Fatalf("after rotation: new token %q must verify and the old one must not", second)
	}
}

// Each hostile flag value is refused with exit 4, a message naming the field,
// and no change to the store.
func TestHostileFlagsChangeNothing(t *testing.T) {
	c := newCLI(t)
	c.seed()
	before := c.export()
	cases := []struct {
		args []string
		want string
		code int
	}{
		{[]string{"mirror", "add", "x", "--site", "example-org", "--http", "ftp://h/", "--country", "DE"}, "urls.http", exitInvalid},
		{[]string{"mirror", "add", "x", "--site", "example-org", "--http", "http://h/", "--country", "ZZ"}, "location.country", exitInvalid},
		{[]string{"mirror", "add", "x", "--site", "example-org", "--http", "http://h/", "--country", "DE", "--lat", "91", "--lon", "0"}, "location.latitude", exitInvalid},
		{[]string{"mirror", "add", "x", "--site", "example-org", "--http", "http://h/", "--country", "DE", "--netblock", "10.0.0.1/8"}, "netblocks", exitInvalid},
		{[]string{"mirror", "add", "ftp-de", "--site", "example-org", "--http", "http://h/", "--country", "DE"}, "name: a mirror named", exitInvalid},
		{[]string{"mirror", "add", "x", "--site", "example-org", "--http", "http://h/", "--country", "DE", "--upstream", "ghost"}, "upstream: unknown mirror", exitInvalid},
		{[]string{"mirror", "add", "x", "--site", "nobody", "--http", "http://h/", "--country", "DE"}, "site: unknown site", exitInvalid},
		{[]string{"mirror", "add", "../x", "--site", "example-org", "--http", "http://h/", "--country", "DE"}, "name:", exitInvalid},
		{[]string{"mirror", "add", "x", "--site", "example-org", "--http", "http://h/", "--country", "DE", "--asn", "ASX"}, "--asn", exitUsage},
		{[]string{"mirror", "add", "x", "--site", "example-org", "--http", "http://h/", "--country", "DE", "--lat", "north"}, "--lat", exitUsage},
		{[]string{"mirror", "add", "x", "--site", "example-org", "--http", "http://h/", "--country", "DE", "--max-file-size", "big"}, "--max-file-size", exitUsage},
		{[]string{"mirror", "add", "x", "--site", "example-org", "--http", "http://h/", "--country", "DE", "--tier", "three"}, "invalid argument", exitUsage},
		{[]string{"mirror", "edit", "ftp-de", "--tier", "2"}, "tier: mirror \"nz-akl\"", exitInvalid},
		{[]string{"mirror", "edit", "ftp-de", "--exclude-country", "XX"}, "rules.exclude_countries", exitInvalid},
		{[]string{"mirror", "edit", "ghost", "--score", "1"}, "not found", exitNotFound},
		{[]string{"mirror", "remove", "ftp-de"}, "upstream of", exitInvalid},
		{[]string{"site", "remove", "example-org"}, "still has 2 mirror", exitInvalid},
		{[]string{"site", "add", "Bad Name"}, "name:", exitInvalid},
		{[]string{"site", "add", "s2", "--contact", "not-an-address"}, "contacts", exitInvalid},
		{[]string{"site", "edit", "example-org", "--sponsor-url", "javascript:alert(1)"}, "sponsor_url", exitInvalid},
		{[]string{"mirror", "show"}, "takes 1 argument", exitUsage},
		{[]string{"mirror", "frobnicate"}, "unknown command", exitUsage},
		{[]string{"frobnicate"}, "unknown command", exitUsage},
		{[]string{"mirror", "list", "--bogus"}, "unknown flag", exitUsage},
		{[]string{"--db", "mysql://h/x", "mirror", "list"}, "store.dsn", exitConfig},
		{[]string{"--log-level", "loud", "mirror", "list"}, "log.level", exitConfig},
	}
	for _, tc := range cases {
		r := c.run(tc.args...)
		if r.code != tc.code || !strings.Contains(r.err, tc.want) {
			t.Errorf("mirrorkit %s: exit %d, stderr %q; want exit %d and %q", strings.Join(tc.args, " "), r.code, r.err, tc.code, tc.want)
		}
	}
	if after := c.export(); after != before {
		t.Fatalf("refused commands changed the store")
	}
}

func TestRemove(t *testing.T) {
	c := newCLI(t)
	c.seed()
	c.ok("mirror", "remove", "nz-akl")
	c.ok("mirror", "remove", "ftp-de")
	c.ok("site", "remove", "example-org")
	if r := c.run("site", "show", "example-org"); r.code != exitNotFound {
		t.Fatalf("removed site: exit %d", r.code)
	}
	if got := c.ok("mirror", "list", "--json"); strings.TrimSpace(got) != "[]" {
		t.Fatalf("empty list JSON = %q, want []", got)
	}
}

func TestConfigCheck(t *testing.T) {
	c := newCLI(t)
	good := filepath.Join(c.dir, "good.toml")
	bad := filepath.Join(c.dir, "bad.toml")
	os.WriteFile(good, []byte("[store]\ndsn = \"x.db\"\n[redirector]\nallow_outdated = [{ prefix = \"/pub/\", max_lag = \"6h\" }]\n"), 0o644)
	os.WriteFile(bad, []byte("[store]\ndsn = \"x.db\"\nmax_open_conns = -4\n[logg]\nlevel = 1\n"), 0o644)
	if r := c.run("config", "check", good); r.code != 0 || !strings.Contains(r.out, "ok") {
		t.Fatalf("good file: %+v", r)
	}
	r := c.run("config", "check", bad)
	if r.code != exitConfig || !strings.Contains(r.err, "bad.toml:4: logg: unknown section; did you mean \"log\"?") {
		t.Fatalf("bad file: exit %d\n%s", r.code, r.err)
	}
	if r := c.run("config", "check", filepath.Join(c.dir, "missing.toml")); r.code != exitConfig {
		t.Fatalf("missing file: exit %d", r.code)
	}
	// A broken config stops every command before it touches anything.
	if r := c.run("--config", bad, "site", "add", "x"); r.code != exitConfig || !strings.Contains(r.err, "store.max_open_conns") {
		t.Fatalf("command with bad config: %+v", r)
	}
	// The effective configuration says where each value came from.
	show := c.ok("--config", good, "--log-level", "debug", "config", "show")
	for _, want := range []string{`dsn = "sqlite:` + c.dir, "# MIRRORKIT_STORE_DSN", `level = "debug"  # --log-level`, `format = "text"  # default`,
		`allow_outdated = [{ prefix = "/pub/", max_lag = "6h0m0s" }]  # ` + good} {
		if !strings.Contains(show, want) {
			t.Errorf("config show lacks %q:\n%s", want, show)
		}
	}
}

// The golden rule for the CLI: --help works on every command.
func TestHelpEverywhere(t *testing.T) {
	c := newCLI(t)
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		path := strings.Fields(cmd.CommandPath())[1:]
		r := c.run(append(path, "--help")...)
		if r.code != 0 || !strings.Contains(r.out, "Usage:") {
			t.Errorf("%s --help: exit %d\n%s", cmd.CommandPath(), r.code, r.err)
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk((&app{}).rootCommand())
	if r := c.run("completion", "bash"); r.code != 0 || !strings.Contains(r.out, "bash completion") {
		t.Fatalf("completion bash: exit %d", r.code)
	}
	if v := c.ok("version"); !strings.Contains(v, "go1.") {
		t.Fatalf("version: %q", v)
	}
}

func TestImportRefusesBadFilesAndKeepsStore(t *testing.T) {
	c := newCLI(t)
	c.seed()
	exported := c.export()
	before := exported
	for name, doc := range map[string]string{
		"garbage":   "not json",
		"truncated": exported[:len(exported)/3],
		"bad field": strings.Replace(exported, `"country": "DE"`, `"country": "XX"`, 1),
	} {
		r := c.runStdin(doc, "registry", "import", "-", "--replace")
		if r.code == 0 {
			t.Errorf("%s: imported", name)
		}
	}
	if r := c.runStdin(exported, "registry", "import", "-"); r.code != exitInvalid || !strings.Contains(r.err, "not empty") {
		t.Errorf("import into a non-empty store: %+v", r)
	}
	if c.export() != before {
		t.Fatal("failed imports changed the store")
	}
	c.ok("registry", "export", filepath.Join(c.dir, "reg.json"))
	fi, err := os.Stat(filepath.Join(c.dir, "reg.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v %v", fi, err)
	}
}

// A registry moves from the embedded store to PostgreSQL and back without
// losing a byte.
func TestExportSQLiteImportPostgres(t *testing.T) {
	c := newCLI(t)
	c.seed()
	c.ok("mirror", "disable", "nz-akl", "--reason", "moving racks")
	file := filepath.Join(c.dir, "reg.json")
	c.ok("registry", "export", file)
	want, _ := os.ReadFile(file)

	pgDSN := pg.Database(t)
	c.ok("--db", pgDSN, "registry", "import", file)
	got := c.ok("--db", pgDSN, "registry", "export")
	if got != string(want) {
		t.Fatalf("PostgreSQL export differs from the SQLite one:\n%s\nwant\n%s", got, want)
	}
	if a, b := c.ok("--db", pgDSN, "mirror", "list", "--json"), c.ok("mirror", "list", "--json"); a != b {
		t.Fatal("mirror list differs between the backends")
	}
	// And back into a fresh SQLite file.
	back := "sqlite:" + filepath.Join(c.dir, "back.db")
	c.runStdin(got, "--db", back, "registry", "import", "-")
	if again := c.ok("--db", back, "registry", "export"); again != string(want) {
		t.Fatal("round trip back to SQLite differs")
	}
}

func TestDBCommands(t *testing.T) {
	c := newCLI(t)
	var before dbStatus
	if err := json.Unmarshal([]byte(c.ok("db", "status", "--json")), &before); err != nil || before.Current != 0 || before.Latest < 2 || before.Pending != before.Latest {
		t.Fatalf("status of a fresh store: %+v %v", before, err)
	}
	if out := c.ok("db", "migrate"); !strings.Contains(out, fmt.Sprintf("applied %d migration(s)", before.Latest)) {
		t.Fatalf("first migrate: %q", out)
	}
	if out := c.ok("db", "migrate"); !strings.Contains(out, "applied 0 migration(s)") {
		t.Fatalf("second migrate: %q", out)
	}
	if out := c.ok("db", "status"); !strings.Contains(out, fmt.Sprintf("%d of %d (0 pending)", before.Latest, before.Latest)) {
		t.Fatalf("status: %q", out)
	}
}

func TestCatalogCommands(t *testing.T) {
	c := newCLI(t)
	origin := filepath.Join(c.dir, "origin")
	os.MkdirAll(filepath.Join(origin, "pub", "staged"), 0o755)
	os.WriteFile(filepath.Join(origin, "pub", "a.iso"), []byte("iso"), 0o644)
	os.WriteFile(filepath.Join(origin, "pub", "x.tmp"), []byte("tmp"), 0o644)
	os.WriteFile(filepath.Join(origin, "pub", "staged", "s.iso"), []byte("s"), 0o644)
	os.Chmod(filepath.Join(origin, "pub", "staged"), 0o750)
	c.env = append(c.env, "MIRRORKIT_CATALOG_EXCLUDE=*.tmp", "MIRRORKIT_CATALOG_HASHES=sha256,md5")

	if r := c.run("catalog", "build"); r.code != exitUsage || !strings.Contains(r.err, "no origin") {
		t.Fatalf("build without origin: %+v", r)
	}
	out := c.ok("catalog", "build", "--origin", origin)
	if !strings.Contains(out, "2 files") || !strings.Contains(out, "2 staged") || !strings.Contains(out, "hashed 2 files") {
		t.Fatalf("first build: %s", out)
	}
	var b struct{ Hashed, Cached, Added int }
	if err := json.Unmarshal([]byte(c.ok("catalog", "build", "--origin", origin, "--json")), &b); err != nil || b.Hashed != 0 || b.Cached != 2 || b.Added != 0 {
		t.Fatalf("rebuild: %+v %v", b, err)
	}
	var e struct {
		Path, SHA256, MD5 string
		Staged            bool
	}
	if err := json.Unmarshal([]byte(c.ok("catalog", "show", "/pub/staged/s.iso", "--json")), &e); err != nil || !e.Staged || e.SHA256 == "" || e.MD5 == "" {
		t.Fatalf("show staged: %+v %v", e, err)
	}
	if r := c.run("catalog", "show", "/pub/x.tmp"); r.code != exitNotFound {
		t.Fatalf("excluded file: exit %d", r.code)
	}
	os.WriteFile(filepath.Join(origin, "pub", "b.iso"), []byte("new"), 0o644)
	var changes []struct {
		Change string
		New    *struct{ Path string }
	}
	if err := json.Unmarshal([]byte(c.ok("catalog", "diff", "--origin", origin, "--json")), &changes); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ch := range changes {
		found = found || ch.Change == "added" && ch.New != nil && ch.New.Path == "/pub/b.iso"
	}
	if !found {
		t.Fatalf("diff misses the new file: %+v", changes)
	}
	// diff stores nothing.
	if r := c.run("catalog", "show", "/pub/b.iso"); r.code != exitNotFound {
		t.Fatal("catalog diff stored the new file")
	}
	if r := c.run("catalog", "build", "--origin", filepath.Join(c.dir, "nope")); r.code != exitFailure || !strings.Contains(r.err, "nope") {
		t.Fatalf("missing origin dir: %+v", r)
	}
}

func TestMirrorScan(t *testing.T) {
	c := newCLI(t)
	origin := filepath.Join(c.dir, "origin")
	os.MkdirAll(filepath.Join(origin, "pub", "sub"), 0o755)
	for i, name := range []string{"pub/a.iso", "pub/b.rpm", "pub/sub/c.rpm"} {
		os.WriteFile(filepath.Join(origin, name), []byte(strings.Repeat("x", i+1)), 0o644)
	}
	d := rsyncd.Start(t, rsyncd.Module{Name: "pub", Path: origin})
	c.ok("catalog", "build", "--origin", origin)
	c.ok("site", "add", "s")
	c.ok("mirror", "add", "good", "--site", "s", "--rsync", d.URL("pub"), "--country", "DE")
	dead := "rsync://127.0.0.1:1/pub/"
	c.ok("mirror", "add", "dead", "--site", "s", "--rsync", dead, "--country", "FR")

	var results []struct {
		Mirror     string
		OK         bool
		Protocol   string
		Current    int
		Completion float64
	}
	if err := json.Unmarshal([]byte(c.ok("mirror", "scan", "good", "--json")), &results); err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || !results[0].OK || results[0].Protocol != "rsync" || results[0].Current != 3 || results[0].Completion != 100 {
		t.Fatalf("scan results %+v", results)
	}
	r := c.run("mirror", "scan", "--all")
	if r.code != exitFailure || !strings.Contains(r.err, "1 of 2 scans failed") || !strings.Contains(r.out, "100.0%") {
		t.Fatalf("scan --all: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if r := c.run("mirror", "scan"); r.code != exitUsage {
		t.Fatalf("scan without names: exit %d", r.code)
	}
	if r := c.run("mirror", "scan", "ghost"); r.code != exitNotFound {
		t.Fatalf("scan of a missing mirror: exit %d", r.code)
	}
	list := c.ok("mirror", "list")
	if !regexp.MustCompile(`(?m)^dead .* failed .* \(stale\)$`).MatchString(list) || !regexp.MustCompile(`(?m)^good .* ok [^()]*$`).MatchString(list) {
		t.Fatalf("mirror list's last scan column:\n%s", list)
	}
	show := c.ok("mirror", "show", "good")
	if !strings.Contains(show, "recent scans") || strings.Count(show, "rsync ") < 2 {
		t.Fatalf("mirror show lacks the recent scans:\n%s", show)
	}
	var scans []struct {
		OK    bool
		Error string
	}
	if err := json.Unmarshal([]byte(c.ok("mirror", "scans", "dead", "--json")), &scans); err != nil || len(scans) != 1 || scans[0].OK || scans[0].Error == "" {
		t.Fatalf("dead mirror's scans %+v %v", scans, err)
	}
}

func TestCatalogFromRsyncOrigin(t *testing.T) {
	c := newCLI(t)
	origin := filepath.Join(c.dir, "origin")
	os.MkdirAll(filepath.Join(origin, "pub"), 0o755)
	os.WriteFile(filepath.Join(origin, "pub", "a.iso"), []byte("abc"), 0o644)
	d := rsyncd.Start(t, rsyncd.Module{Name: "origin", Path: origin})
	out := c.ok("catalog", "build", "--origin", d.URL("origin"))
	if !strings.Contains(out, "1 files") || !strings.Contains(out, "1 directories") {
		t.Fatalf("remote build: %s", out)
	}
	var e struct {
		Size   int64
		SHA256 string
	}
	if err := json.Unmarshal([]byte(c.ok("catalog", "show", "/pub/a.iso", "--json")), &e); err != nil || e.Size != 3 || e.SHA256 != "" {
		t.Fatalf("remote entry %+v %v", e, err)
	}
	if r := c.run("catalog", "build", "--origin", "rsync://127.0.0.1:1/x/"); r.code != exitFailure {
		t.Fatalf("dead remote origin: exit %d", r.code)
	}
}

func TestScannerDaemon(t *testing.T) {
	c := newCLI(t)
	origin := filepath.Join(c.dir, "origin")
	os.MkdirAll(origin, 0o755)
	os.WriteFile(filepath.Join(origin, "f.iso"), []byte("iso"), 0o644)
	d := rsyncd.Start(t, rsyncd.Module{Name: "pub", Path: origin})
	c.ok("catalog", "build", "--origin", origin)
	c.ok("site", "add", "s")
	c.ok("mirror", "add", "m", "--site", "s", "--rsync", d.URL("pub"), "--country", "DE")
	// The daemon also rebuilds the catalog (at start, then every minute): the
	// new file must show up in a second build.
	os.WriteFile(filepath.Join(origin, "g.iso"), []byte("new"), 0o644)
	metricsAddr := testutil.ClosedAddr(t)
	c.env = append(c.env, "MIRRORKIT_SCAN_JITTER=0s", "MIRRORKIT_CATALOG_ORIGIN="+origin, "MIRRORKIT_CATALOG_INTERVAL=1m",
		"MIRRORKIT_SCAN_METRICS_LISTEN="+metricsAddr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() { done <- c.runCtx(ctx, "", "scanner") }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var scans []struct{ OK bool }
		json.Unmarshal([]byte(c.ok("mirror", "scans", "m", "--json")), &scans)
		r := c.run("catalog", "show", "/g.iso")
		if len(scans) > 0 && scans[0].OK && r.code == 0 {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the scanner never scanned the mirror: %+v", <-done)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The daemon's /metrics, read with Prometheus's own parser.
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	okScans := 0.0
	for _, m := range families["mirrorkit_scans_total"].GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		if labels["outcome"] == "ok" && labels["protocol"] == "rsync" {
			okScans = m.GetCounter().GetValue()
		}
	}
	if okScans < 1 || families["mirrorkit_inventory_files"] == nil || families["mirrorkit_mirror_completion_ratio"] == nil {
		cancel()
		t.Fatalf("metrics: ok rsync scans %v; families %d", okScans, len(families))
	}
	cancel()
	if r := <-done; r.code != 0 {
		t.Fatalf("scanner exit %d: %s", r.code, r.err)
	}
	if _, err := http.Get("http://" + metricsAddr + "/metrics"); err == nil {
		t.Fatal("the metrics server is still up after the scanner stopped")
	}
}

// The whole publisher side on loopback: catalog, a mirror scanned over rsync
// and served by nginx, and the redirector sending curl to it.
func TestRedirectorDaemon(t *testing.T) {
	curl := testutil.RequireTool(t, "curl")
	c := newCLI(t)
	origin := filepath.Join(c.dir, "origin")
	os.MkdirAll(filepath.Join(origin, "pub"), 0o755)
	iso := bytes.Repeat([]byte("mirrorkit "), 10000)
	os.WriteFile(filepath.Join(origin, "pub", "x.iso"), iso, 0o644)
	d := rsyncd.Start(t, rsyncd.Module{Name: "pub", Path: origin})
	web := nginx.Start(t, origin)
	c.ok("catalog", "build", "--origin", origin)
	c.ok("site", "add", "s")
	c.ok("mirror", "add", "m", "--site", "s", "--rsync", d.URL("pub"), "--http", web.URL(), "--country", "DE")
	c.ok("mirror", "scan", "m")

	listen, metrics := testutil.ClosedAddr(t), testutil.ClosedAddr(t)
	c.env = append(c.env, "MIRRORKIT_REDIRECTOR_METRICS_LISTEN="+metrics)
	defer c.background("redirector", "--listen", listen)()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var resp *http.Response
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		resp, err = noRedirect.Get("http://" + listen + "/pub/x.iso")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redirector never answered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != web.URL()+"pub/x.iso" || resp.Header.Get("Digest") == "" {
		t.Fatalf("redirect: %d %q digest %q", resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Digest"))
	}
	out := filepath.Join(c.dir, "x.iso")
	if b, err := exec.Command(curl, "-sSfL", "-o", out, "http://"+listen+"/pub/x.iso").CombinedOutput(); err != nil {
		t.Fatalf("curl: %v %s", err, b)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, iso) {
		t.Fatal("curl through the redirector got other bytes")
	}
	if r, err := http.Get("http://" + listen + "/pub/../etc/passwd"); err != nil || r.StatusCode != http.StatusBadRequest {
		t.Fatalf("traversal: %v %v", r, err)
	}
	mr, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(mr.Body)
	mr.Body.Close()
	if !strings.Contains(string(body), `mirrorkit_redirector_requests_total{code="302"}`) {
		t.Fatalf("metrics lack redirects:\n%s", body)
	}
}

// With geo data the redirector sends a client to its own country's mirror.
func TestRedirectorUsesGeo(t *testing.T) {
	c := newCLI(t)
	origin := filepath.Join(c.dir, "origin")
	os.MkdirAll(filepath.Join(origin, "pub"), 0o755)
	os.WriteFile(filepath.Join(origin, "pub", "x.iso"), bytes.Repeat([]byte("x"), 10000), 0o644)
	d := rsyncd.Start(t, rsyncd.Module{Name: "pub", Path: origin})
	webDE, webUS := nginx.Start(t, origin), nginx.Start(t, origin)
	c.ok("catalog", "build", "--origin", origin)
	c.ok("site", "add", "s")
	c.ok("mirror", "add", "de", "--site", "s", "--rsync", d.URL("pub"), "--http", webDE.URL(), "--country", "DE")
	c.ok("mirror", "add", "us", "--site", "s", "--rsync", d.URL("pub"), "--http", webUS.URL(), "--country", "US")
	c.ok("mirror", "scan", "--all")
	// Loopback clients are in Germany, says this database.
	db := geotest.WriteMMDB(t, c.dir, "city.mmdb", 6, geotest.Entries{"127.0.0.0/8": geotest.DBIPCity("DE", 50.1, 8.7)})

	c.env = append(c.env, "MIRRORKIT_GEO_CITY_FILES="+filepath.Join(c.dir, "missing.mmdb"), "MIRRORKIT_REDIRECTOR_METRICS_LISTEN=")
	if r := c.run("redirector", "--listen", testutil.ClosedAddr(t)); r.code == 0 || !strings.Contains(r.err, "missing.mmdb") {
		t.Fatalf("a missing geo file: exit %d %q", r.code, r.err)
	}
	c.setenv("MIRRORKIT_GEO_CITY_FILES", db)
	listen := testutil.ClosedAddr(t)
	defer c.background("redirector", "--listen", listen)()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	deadline := time.Now().Add(30 * time.Second)
	for got := 0; got < 20; {
		resp, err := noRedirect.Get("http://" + listen + "/pub/x.iso")
		if err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("redirector never answered: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); loc != webDE.URL()+"pub/x.iso" {
			t.Fatalf("German client sent to %q (status %d)", loc, resp.StatusCode)
		}
		got++
	}
}

// A mirror whose probes fail stops getting redirects within a probe round;
// when it answers again it is rescanned, then gets them again.
func TestRedirectorFollowsProbes(t *testing.T) {
	c := newCLI(t)
	origin := filepath.Join(c.dir, "origin")
	os.MkdirAll(filepath.Join(origin, "pub"), 0o755)
	os.WriteFile(filepath.Join(origin, "pub", "x.iso"), bytes.Repeat([]byte("x"), 10000), 0o644)
	// A current trace: an old one would make the mirror stale by lag
	// (probe.max_lag) and take it out for a reason this test is not about.
	os.WriteFile(filepath.Join(origin, "TIME"), []byte(strconv.FormatInt(time.Now().Unix(), 10)+"\n"), 0o644)
	web := nginx.Start(t, origin)
	c.ok("catalog", "build", "--origin", origin)
	c.ok("site", "add", "s")
	c.ok("mirror", "add", "m", "--site", "s", "--http", web.URL(), "--country", "DE")
	c.ok("mirror", "scan", "m")

	listen := testutil.ClosedAddr(t)
	c.env = append(c.env, "MIRRORKIT_REDIRECTOR_METRICS_LISTEN=", "MIRRORKIT_PROBE_INTERVAL=1s", "MIRRORKIT_PROBE_TIMEOUT=1s",
		"MIRRORKIT_PROBE_DOWN_AFTER=1", "MIRRORKIT_PROBE_UP_AFTER=1", "MIRRORKIT_REDIRECTOR_REFRESH_INTERVAL=1h")
	defer c.background("redirector", "--listen", listen, "--origin", origin)()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// await polls until the redirector answers /pub/x.iso with the status.
	await := func(what string, status int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		last := 0
		for time.Now().Before(deadline) {
			if resp, err := noRedirect.Get("http://" + listen + "/pub/x.iso"); err == nil {
				resp.Body.Close()
				if last = resp.StatusCode; last == status {
					return
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: still %d after 20 s, want %d", what, last, status)
	}
	await("a healthy mirror", http.StatusFound)
	// The API shows it, with its scans read from the store.
	resp, err := http.Get("http://" + listen + "/api/v1/mirrors/m")
	if err != nil {
		t.Fatal(err)
	}
	var detail struct {
		Mirror struct {
			State      string  `json:"state"`
			LagSeconds float64 `json:"lag_seconds"`
		} `json:"mirror"`
		Scans []json.RawMessage `json:"scans"`
	}
	err = json.NewDecoder(resp.Body).Decode(&detail)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || detail.Mirror.State != "up" || len(detail.Scans) == 0 {
		t.Fatalf("API: %d %v %+v", resp.StatusCode, err, detail)
	}
	scansBefore := strings.Count(c.ok("mirror", "scans", "m"), "\n")

	// The mirror's trace file goes away: its probe fails, so the file is
	// served from the origin instead.
	if err := os.Rename(filepath.Join(origin, "TIME"), filepath.Join(origin, "TIME.off")); err != nil {
		t.Fatal(err)
	}
	await("a mirror whose probe fails", http.StatusOK)

	// It answers again: rescanned, then redirected to.
	if err := os.Rename(filepath.Join(origin, "TIME.off"), filepath.Join(origin, "TIME")); err != nil {
		t.Fatal(err)
	}
	await("a mirror back up", http.StatusFound)
	after := strings.Count(c.ok("mirror", "scans", "m"), "\n")
	if after <= scansBefore {
		t.Fatalf("the mirror got redirects again without a rescan (%d scans before, %d after)", scansBefore, after)
	}

	// The server itself stops: connections are refused, the file comes
	// from the origin. It starts again on its port: rescanned, redirected.
	if err := web.Stop(); err != nil {
		t.Fatal(err)
	}
	await("a stopped mirror", http.StatusOK)
	nginx.Start(t, origin, nginx.Port(web.Port()))
	await("a restarted mirror", http.StatusFound)
	if again := strings.Count(c.ok("mirror", "scans", "m"), "\n"); again <= after {
		t.Fatalf("the restarted mirror got redirects without a rescan (%d scans before, %d after)", after, again)
	}
	// Its page tells the story: refused probes among the answered ones.
	resp, err = http.Get("http://" + listen + "/mirrors/m")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"connection refused", "404 on /TIME", "Recent failures"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the mirror page lacks %q", want)
		}
	}
}
