package config

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const example = "../../docs/mirrorkit.example.toml"

// The documented example is the truth about defaults: it loads, it equals
// Default(), and it names every key.
func TestExampleDocumentsEveryDefault(t *testing.T) {
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(example, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	got, _ := json.Marshal(c)
	want, _ := json.Marshal(d)
	if string(got) != string(want) {
		t.Fatalf("example differs from Default():\n%s\n%s", got, want)
	}
	lines := keyLines(data)
	for _, k := range Keys() {
		if lines[k] == 0 {
			t.Errorf("key %s is not documented in %s", k, example)
		}
	}
	// Each key has a comment right above it (or above its section's first key).
	text := strings.Split(string(data), "\n")
	for _, k := range Keys() {
		if prev := strings.TrimSpace(text[lines[k]-2]); !strings.HasPrefix(prev, "#") {
			t.Errorf("key %s (line %d) has no comment above it", k, lines[k])
		}
	}
}

func TestPrecedence(t *testing.T) {
	file := []byte("[store]\ndsn = \"file.db\"\nmax_open_conns = 3\n[log]\nlevel = \"warn\"\n")
	env := []string{"MIRRORKIT_STORE_DSN=env.db", "MIRRORKIT_LOG_LEVEL=debug", "PATH=/bin", "MIRRORKIT_CONFIG=ignored.toml",
		"MIRRORKIT_REGISTRY_EMBARGOED_COUNTRIES= cu, ir ,,KP", "MIRRORKIT_STORE_BUSY_TIMEOUT=1m30s"}
	c, err := Parse("m.toml", file, env, Override{Key: "store.dsn", Value: "flag.db", Source: "--db"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.DSN != "flag.db" || c.Origin("store.dsn") != "--db" {
		t.Errorf("dsn %q from %s; the flag must win", c.Store.DSN, c.Origin("store.dsn"))
	}
	if c.Log.Level != "debug" || c.Origin("log.level") != "MIRRORKIT_LOG_LEVEL" {
		t.Errorf("level %q from %s; the variable must beat the file", c.Log.Level, c.Origin("log.level"))
	}
	if c.Store.MaxOpenConns != 3 || c.Origin("store.max_open_conns") != "m.toml" {
		t.Errorf("max_open_conns %d from %s", c.Store.MaxOpenConns, c.Origin("store.max_open_conns"))
	}
	if c.Log.Format != "text" || c.Origin("log.format") != "default" {
		t.Errorf("format %q from %s", c.Log.Format, c.Origin("log.format"))
	}
	if !slices.Equal(c.Registry.EmbargoedCountries, []string{"CU", "IR", "KP"}) {
		t.Errorf("embargo = %q", c.Registry.EmbargoedCountries)
	}
	if time.Duration(c.Store.BusyTimeout) != 90*time.Second {
		t.Errorf("busy_timeout = %v", c.Store.BusyTimeout)
	}
}

func problems(t *testing.T, file string, env []string, o ...Override) []Problem {
	t.Helper()
	_, err := Parse("m.toml", []byte(file), env, o...)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *Error", err)
	}
	return ce.Problems
}

func TestBadConfigsNameTheKeyAndLine(t *testing.T) {
	cases := []struct {
		name, file string
		env        []string
		want       []string // Problem.String() of each problem, in order
	}{
		{"syntax error", "[log]\nlevel = \"info\n", nil,
			[]string{"m.toml:2: log.level: strings cannot contain newlines"}},
		{"unclosed table", "[log\n", nil,
			[]string{"m.toml:2: expected '.' or ']' to end table name, but got '\\n' instead"}},
		{"wrong type", "[store]\n\nmax_open_conns = \"ten\"\n", nil,
			[]string{"m.toml:3: store.max_open_conns: incompatible types: TOML value has type string; destination has type integer"}},
		{"bad duration", "[store]\nbusy_timeout = \"soon\"\n", nil,
			[]string{`m.toml:2: store.busy_timeout: "soon" is not a duration such as 30s, 5m or 4h`}},
		{"unknown key with hint", "[store]\ndns = \"x.db\"\n", nil,
			[]string{`m.toml:2: store.dns: unknown key; did you mean "dsn"?`}},
		{"unknown section once", "[logging]\nlevel = \"info\"\nformat = \"json\"\n", nil,
			[]string{`m.toml:1: logging: unknown section`}},
		{"unknown dotted key", "store.sqlite.path = \"x\"\n", nil,
			[]string{`m.toml:1: store.sqlite.path: unknown key`}},
		{"out of range", "# c\n[store]\nmax_open_conns = 5000\nbusy_timeout = \"1h\"\n", nil,
			[]string{"m.toml:3: store.max_open_conns: 5000 is out of range 0..1000",
				"m.toml:4: store.busy_timeout: 1h0m0s is out of range 0s..10m0s"}},
		{"bad enum values", "[log]\nlevel = \"loud\"\nformat = \"xml\"\n", nil,
			[]string{`m.toml:2: log.level: "loud" is not one of debug, info, warn, error`,
				`m.toml:3: log.format: "xml" is not text or json`}},
		{"bad country in list", "[registry]\nembargoed_countries = [\"CU\", \"XX\"]\n", nil,
			[]string{`m.toml:2: registry.embargoed_countries: "XX" is not an ISO 3166-1 alpha-2 country code`}},
		{"empty dsn", "[store]\ndsn = \"  \"\n", nil,
			[]string{"m.toml:2: store.dsn: must not be empty"}},
		{"bad redirector values", "[redirector]\nlisten = \"8080\"\nstatus = 200\nfallback = [\"ftp://x/\"]\ntrusted_proxies = [\"proxy.example.org\"]\nlinks = 99\ntls_cert = \"c.pem\"\n", nil,
			[]string{`m.toml:2: redirector.listen: "8080" is not HOST:PORT`,
				`m.toml:7: redirector.tls_cert: tls_cert and tls_key go together`,
				`m.toml:3: redirector.status: 200 is not 301, 302, 303, 307 or 308`,
				`m.toml:4: redirector.fallback: "ftp://x/" is not an http(s) base URL`,
				`m.toml:5: redirector.trusted_proxies: trusted proxy "proxy.example.org" is neither an address nor a CIDR`,
				`m.toml:6: redirector.links: 99 is out of range 0..32`}},
		{"bad geo values", "[geo]\nasn_files = [\"asn.txt\"]\nreload_interval = \"1s\"\n", nil,
			[]string{`m.toml:3: geo.reload_interval: 1s is out of range 1m0s..720h0m0s`,
				`m.toml:2: geo.asn_files: "asn.txt" must end in .mmdb or .csv`}},
		{"bad allow_outdated", "[redirector]\nallow_outdated = [{ prefix = \"/pub/../etc\", max_lag = \"1h\" }]\n", nil,
			[]string{`m.toml:2: redirector.allow_outdated: allow-outdated prefix "/pub/../etc" must be a clean path starting with / (no .., no //)`}},
		{"allow_outdated lag out of range", "[redirector]\nallow_outdated = [{ prefix = \"/pub/\", max_lag = \"1000h\" }]\n", nil,
			[]string{`m.toml:2: redirector.allow_outdated: allow-outdated prefix "/pub/": max lag 1000h0m0s is out of range (0s, 720h0m0s]`}},
		{"allow_outdated unknown field", "[redirector]\nallow_outdated = [{ prefix = \"/pub/\", maxlag = \"1h\" }]\n", nil,
			[]string{`m.toml:2: redirector.allow_outdated.maxlag: unknown key; did you mean "max_lag"?`,
				`m.toml:2: redirector.allow_outdated: allow-outdated prefix "/pub/": max lag 0s is out of range (0s, 720h0m0s]`}},
		{"allow_outdated from a variable", "", []string{"MIRRORKIT_REDIRECTOR_ALLOW_OUTDATED=/pub/"},
			[]string{`MIRRORKIT_REDIRECTOR_ALLOW_OUTDATED: redirector.allow_outdated: key "redirector.allow_outdated" is a list of tables; set it in the config file`}},
		{"bad sync job", "[sync]\npush_listen = \"127.0.0.1:9999\"\n\n[sync.jobs.fedora]\nupstream = \"ftp://x/\"\ndest = \"/srv/pub\"\nmax_delete = 2.0\nevery = \"1s\"\n", nil,
			[]string{`m.toml:2: sync.push_listen: needs push_token_file: pushes are never accepted without a token`,
				`m.toml:5: sync.jobs.fedora.upstream: upstream "ftp://x/": not an rsync daemon URL (want rsync://host[:port]/module/path or host::module/path): scheme "ftp"`,
				`m.toml:7: sync.jobs.fedora.max_delete: 2 is not in (0, 1] (0.1 is 10% of the tree)`,
				`m.toml:8: sync.jobs.fedora.every: 1s is out of range (0 for none, or 1m..168h)`}},
		{"bad max_lag", "[probe]\nmax_lag = [\"24h\", \"10s\", \"0s\"]\n", nil,
			[]string{"m.toml:2: probe.max_lag: has 3 values; it needs one per tier 0..3",
				"m.toml:2: probe.max_lag: tier 1: 10s is out of range 1m..8760h (0 is no limit)"}},
		{"bad max_lag variable", "", []string{"MIRRORKIT_PROBE_MAX_LAG=1h,2h,soon,4h"},
			[]string{`MIRRORKIT_PROBE_MAX_LAG: probe.max_lag: item 3: "soon" is not a duration such as 30s, 5m or 4h`}},
		{"bad variable", "", []string{"MIRRORKIT_STORE_MAX_OPEN_CONNS=many"},
			[]string{`MIRRORKIT_STORE_MAX_OPEN_CONNS: store.max_open_conns: "many" is not an integer`}},
		{"variable out of range", "", []string{"MIRRORKIT_STORE_MAX_OPEN_CONNS=-1"},
			[]string{"MIRRORKIT_STORE_MAX_OPEN_CONNS: store.max_open_conns: -1 is out of range 0..1000"}},
		{"unknown variable", "", []string{"MIRRORKIT_STORE_DNS=x"},
			[]string{"MIRRORKIT_STORE_DNS: unknown environment override; did you mean MIRRORKIT_STORE_DSN?"}},
		{"unknown variable far from any", "", []string{"MIRRORKIT_FROBNICATE=1"},
			[]string{"MIRRORKIT_FROBNICATE: unknown environment override (each key of docs/mirrorkit.example.toml has one: MIRRORKIT_<SECTION>_<KEY>)"}},
		{"bad catalog values", "[catalog]\nhashes = [\"crc32\"]\npiece_size = \"1KiB\"\nexclude = [\"/\"]\n", nil,
			[]string{`m.toml:4: catalog.exclude: exclude pattern "/" matches nothing (it would exclude the whole tree)`,
				`m.toml:2: catalog.hashes: "crc32" is not one of sha256, sha1, md5, sha512`,
				"m.toml:3: catalog.piece_size: 1KiB is out of range (0 for none, or 64KiB..1GiB)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, p := range problems(t, c.file, c.env) {
				got = append(got, p.String())
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func TestAllowOutdated(t *testing.T) {
	c, err := Parse("m.toml", []byte("[redirector]\nallow_outdated = [\n  { prefix = \"/fedora/updates\", max_lag = \"6h\" },\n  { prefix = \"/\", max_lag = \"30m\" },\n]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Redirector.Policy()
	if err != nil {
		t.Fatal(err)
	}
	if got := p.MaxLag("/fedora/updates/40/x.rpm"); got != 6*time.Hour {
		t.Fatalf("MaxLag under the prefix = %s", got)
	}
	if got := p.MaxLag("/debian/pool/x.deb"); got != 30*time.Minute {
		t.Fatalf("MaxLag elsewhere = %s", got)
	}
	if c.Origin("redirector.allow_outdated") != "m.toml" {
		t.Fatalf("origin %q", c.Origin("redirector.allow_outdated"))
	}
}

func TestMaxLagFromVariable(t *testing.T) {
	c, err := Parse("", nil, []string{"MIRRORKIT_PROBE_MAX_LAG=6h, 12h,0s,3d"})
	if err == nil {
		t.Fatal("3d accepted as a duration")
	}
	c, err = Parse("", nil, []string{"MIRRORKIT_PROBE_MAX_LAG=6h, 12h,0s,72h"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Probe.MaxLags(); !slices.Equal(got, []time.Duration{6 * time.Hour, 12 * time.Hour, 0, 72 * time.Hour}) {
		t.Fatalf("max_lag = %v", got)
	}
	if c.Origin("probe.max_lag") != "MIRRORKIT_PROBE_MAX_LAG" {
		t.Fatalf("origin %q", c.Origin("probe.max_lag"))
	}
}

func TestBadFlagNamesTheFlag(t *testing.T) {
	ps := problems(t, "", nil, Override{Key: "log.level", Value: "chatty", Source: "--log-level"})
	if len(ps) != 1 || ps[0].String() != `--log-level: log.level: "chatty" is not one of debug, info, warn, error` {
		t.Fatalf("%+v", ps)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("/nonexistent/mirrorkit.toml", nil)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/mirrorkit.toml") {
		t.Fatalf("err = %v", err)
	}
	c, err := Load("", nil)
	if err != nil || c.Store.DSN != Default().Store.DSN {
		t.Fatalf("no file: %v %+v", err, c)
	}
}

func TestKeyLines(t *testing.T) {
	got := keyLines([]byte("a = 1\n[s] # comment\n  'quoted.key' = 2\nx.y = 3\n[[arr]]\nz = 4\n"))
	want := map[string]int{"a": 1, "s": 2, "s.quoted.key": 3, "s.x.y": 4, "arr": 5, "arr.z": 6}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

func FuzzParse(f *testing.F) {
	data, _ := os.ReadFile(example)
	f.Add(string(data))
	f.Add("[store]\nmax_open_conns = 99999999999999999999\n")
	f.Add("[registry]\nembargoed_countries = [1, 2]\n")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse("f.toml", []byte(in), nil)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("error without problems: %v", err)
			}
			return
		}
		// Whatever is accepted is in range.
		if c.Store.MaxOpenConns < 0 || c.Store.MaxOpenConns > maxOpenConns || c.Store.DSN == "" {
			t.Fatalf("accepted out-of-range config %+v", c.Store)
		}
	})
}
