package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/dustin/go-humanize"

	"github.com/mirrorkit/mirrorkit/internal/catalog"
	"github.com/mirrorkit/mirrorkit/internal/clientip"
	"github.com/mirrorkit/mirrorkit/internal/policy"
	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/syncer"
)

// Config is the whole configuration. Each section is a struct whose fields carry
// toml tags; the tags are the keys users write.
type Config struct {
	Log        Log        `toml:"log" json:"log"`
	Store      Store      `toml:"store" json:"store"`
	Registry   Registry   `toml:"registry" json:"registry"`
	Catalog    Catalog    `toml:"catalog" json:"catalog"`
	Scan       Scan       `toml:"scan" json:"scan"`
	Redirector Redirector `toml:"redirector" json:"redirector"`
	Geo        Geo        `toml:"geo" json:"geo"`
	Probe      Probe      `toml:"probe" json:"probe"`
	Sync       Sync       `toml:"sync" json:"sync"`
	Serve      Serve      `toml:"serve" json:"serve"`

	origin map[string]string // key → where its value came from, for messages
	lines  map[string]int    // key → line in the file
	file   string
}

// Log configures structured logging.
type Log struct {
	// Level: debug, info, warn or error.
	Level string `toml:"level" json:"level"`
	// Format: text for people, json for log collectors.
	Format string `toml:"format" json:"format"`
}

// Store says where the registry and all other state live.
type Store struct {
	// DSN: "sqlite:PATH" (or a bare path) for the embedded store,
	// "postgres://…" for a shared PostgreSQL.
	DSN string `toml:"dsn" json:"dsn"`
	// MaxOpenConns bounds the connection pool; 0 picks the backend's default.
	MaxOpenConns int `toml:"max_open_conns" json:"max_open_conns"`
	// BusyTimeout: how long an SQLite writer waits for another.
	BusyTimeout Duration `toml:"busy_timeout" json:"busy_timeout"`
}

// Registry holds network-wide registry policy.
type Registry struct {
	// EmbargoedCountries receive no redirect at all (export compliance).
	EmbargoedCountries []string `toml:"embargoed_countries" json:"embargoed_countries"`
}

// Catalog says what the origin is and how to index it.
type Catalog struct {
	// Origin is the directory holding the authoritative tree.
	Origin string `toml:"origin" json:"origin"`
	// Exclude lists rsync-style patterns left out of the catalog.
	Exclude []string `toml:"exclude" json:"exclude"`
	// Hashes to compute for every file: sha256, sha1, md5, sha512.
	Hashes []string `toml:"hashes" json:"hashes"`
	// PieceSize > 0 also computes SHA-256 piece hashes for metalinks.
	PieceSize Size `toml:"piece_size" json:"piece_size"`
	// Workers hashing in parallel; 0 picks for the machine.
	Workers int `toml:"workers" json:"workers"`
	// Interval between rebuilds by the scanner daemon; 0 rebuilds only on
	// demand (`mirrorkit catalog build`, e.g. from the publisher's release job).
	Interval Duration `toml:"interval" json:"interval"`
}

// Scan says how mirrors are scanned.
type Scan struct {
	// Interval between two scans of one mirror; Jitter spreads them.
	Interval Duration `toml:"interval" json:"interval"`
	Jitter   Duration `toml:"jitter" json:"jitter"`
	// Concurrency bounds how many mirrors are scanned at once.
	Concurrency int `toml:"concurrency" json:"concurrency"`
	// Timeout bounds one mirror's whole scan; IOTimeout a silence within it.
	Timeout   Duration `toml:"timeout" json:"timeout"`
	IOTimeout Duration `toml:"io_timeout" json:"io_timeout"`
	// MaxBackoff caps the growing delay before rescanning a failing mirror.
	MaxBackoff Duration `toml:"max_backoff" json:"max_backoff"`
	// MaxAge: a mirror whose last good scan is older is stale.
	MaxAge Duration `toml:"max_age" json:"max_age"`
	// TraceFiles are tried in order to learn when a mirror last synced.
	TraceFiles []string `toml:"trace_files" json:"trace_files"`
	// HTTPRate bounds requests per second to one mirror when crawling HTTP.
	HTTPRate int `toml:"http_rate" json:"http_rate"`
	// PasswordsFile holds "MIRROR PASSWORD" lines for mirrors whose rsync or
	// FTP URL needs a login (private mirrors, pre-bit-flip modules).
	PasswordsFile string `toml:"passwords_file" json:"passwords_file"`
	// MetricsListen is the scanner daemon's Prometheus /metrics address;
	// "" turns it off.
	MetricsListen string `toml:"metrics_listen" json:"metrics_listen"`
}

// Redirector configures `mirrorkit redirector`.
type Redirector struct {
	// Listen is the address for client requests.
	Listen string `toml:"listen" json:"listen"`
	// TLSCert and TLSKey enable HTTPS on Listen when both are set.
	TLSCert string `toml:"tls_cert" json:"tls_cert"`
	TLSKey  string `toml:"tls_key" json:"tls_key"`
	// Origin is a local copy of the tree for files served directly and as
	// the last fallback; "" for none.
	Origin string `toml:"origin" json:"origin"`
	// Fallback base URLs when no mirror qualifies and there is no origin.
	Fallback []string `toml:"fallback" json:"fallback"`
	// Status of a redirect: 301, 302, 303 or 307.
	Status int `toml:"status" json:"status"`
	// TrustedProxies may set Forwarded/X-Forwarded-For/X-Forwarded-Proto.
	TrustedProxies []string `toml:"trusted_proxies" json:"trusted_proxies"`
	// AllowOverride lets ?country= and ?asn= choose the client's location.
	AllowOverride bool `toml:"allow_override" json:"allow_override"`
	// Links is how many next-best mirrors go in Link headers.
	Links int `toml:"links" json:"links"`
	// ServeLocally lists files served from the origin, never redirected.
	ServeLocally []string `toml:"serve_locally" json:"serve_locally"`
	// MinRedirectSize: smaller files are served from the origin.
	MinRedirectSize Size `toml:"min_redirect_size" json:"min_redirect_size"`
	// AllowOutdated lets mirrors one version behind serve files under a
	// prefix for a while after the file changed.
	AllowOutdated []AllowOutdated `toml:"allow_outdated" json:"allow_outdated"`
	// RefreshInterval is how often the registry, catalog and scan results
	// are checked for changes.
	RefreshInterval Duration `toml:"refresh_interval" json:"refresh_interval"`
	// MetricsListen serves Prometheus /metrics; "" turns it off.
	MetricsListen string `toml:"metrics_listen" json:"metrics_listen"`
}

// AllowOutdated is one prefix where mirrors still on a file's previous
// version may serve it, for up to MaxLag after the catalog took in the new one.
type AllowOutdated struct {
	Prefix string   `toml:"prefix" json:"prefix"`
	MaxLag Duration `toml:"max_lag" json:"max_lag"`
}

// Policy returns the rules in the form the policy package takes.
func (r *Redirector) Policy() (*policy.Policy, error) {
	out := make([]policy.Outdated, len(r.AllowOutdated))
	for i, o := range r.AllowOutdated {
		out[i] = policy.Outdated{Prefix: o.Prefix, MaxLag: time.Duration(o.MaxLag)}
	}
	return policy.New(r.ServeLocally, int64(r.MinRedirectSize), out...)
}

// Probe configures the redirector's health probes of every mirror.
type Probe struct {
	// Enabled turns probing on; off, every mirror counts as up.
	Enabled bool `toml:"enabled" json:"enabled"`
	// Interval between rounds; each target is probed once a round.
	Interval Duration `toml:"interval" json:"interval"`
	// Timeout bounds one probe.
	Timeout Duration `toml:"timeout" json:"timeout"`
	// Concurrency bounds the mirrors probed at once.
	Concurrency int `toml:"concurrency" json:"concurrency"`
	// DownAfter consecutive failures confirm a target down (it gets no
	// clients from its first failure on); UpAfter successes bring a
	// confirmed-down target back.
	DownAfter int `toml:"down_after" json:"down_after"`
	UpAfter   int `toml:"up_after" json:"up_after"`
	// MaxLag is, by tier (0..3), how far behind the origin a mirror's
	// trace may be before it is stale and gets no clients; 0 is no limit.
	// It is per tier because a tier 2 mirror is, by design, one sync
	// further from the origin than a tier 1.
	MaxLag []Duration `toml:"max_lag" json:"max_lag"`
}

// MaxLags returns probe.max_lag as durations, by tier.
func (p *Probe) MaxLags() []time.Duration {
	out := make([]time.Duration, len(p.MaxLag))
	for i, d := range p.MaxLag {
		out[i] = time.Duration(d)
	}
	return out
}

// Serve configures the mirror side: `mirrorkit serve` and `mirrorkit release`.
type Serve struct {
	// Root is the tree this mirror serves.
	Root string `toml:"root" json:"root"`
	// StateDir holds generated daemon configs and scheduled bit flips.
	StateDir string `toml:"state_dir" json:"state_dir"`
	// ReleaseCheck is how often scheduled bit flips are looked for.
	ReleaseCheck Duration `toml:"release_check" json:"release_check"`

	// Listen serves HTTP; ListenTLS HTTPS (with HTTP/2) from TLSCert/TLSKey.
	Listen    string `toml:"listen" json:"listen"`
	ListenTLS string `toml:"listen_tls" json:"listen_tls"`
	TLSCert   string `toml:"tls_cert" json:"tls_cert"`
	TLSKey    string `toml:"tls_key" json:"tls_key"`
	// IdleTimeout closes idle keep-alive connections.
	IdleTimeout Duration `toml:"idle_timeout" json:"idle_timeout"`
	// OpenCacheTTL keeps walked directories open and small files in memory
	// this long; 0 off.
	OpenCacheTTL Duration `toml:"open_cache_ttl" json:"open_cache_ttl"`
	// MaxConnsPerIP caps one client's concurrent connections; 0 no cap.
	MaxConnsPerIP int `toml:"max_conns_per_ip" json:"max_conns_per_ip"`
	// NoRange: files never answered in parts (download accelerators).
	NoRange []string `toml:"no_range" json:"no_range"`
	// AccessLog is the access log file; AccessLogMaxSize rotates it.
	AccessLog        string `toml:"access_log" json:"access_log"`
	AccessLogMaxSize Size   `toml:"access_log_max_size" json:"access_log_max_size"`
	// MetricsListen serves Prometheus /metrics; "" turns it off.
	MetricsListen string `toml:"metrics_listen" json:"metrics_listen"`

	// RsyncPort runs the rsync daemon; 0 turns it off.
	RsyncPort           int      `toml:"rsync_port" json:"rsync_port"`
	RsyncAddress        string   `toml:"rsync_address" json:"rsync_address"`
	RsyncModule         string   `toml:"rsync_module" json:"rsync_module"`
	RsyncMaxConnections int      `toml:"rsync_max_connections" json:"rsync_max_connections"`
	RsyncTimeout        Duration `toml:"rsync_timeout" json:"rsync_timeout"`
	RsyncUser           string   `toml:"rsync_user" json:"rsync_user"`
	RsyncGroup          string   `toml:"rsync_group" json:"rsync_group"`
	RsyncRefuseOptions  []string `toml:"rsync_refuse_options" json:"rsync_refuse_options"`
	RsyncMOTD           string   `toml:"rsync_motd" json:"rsync_motd"`
	// PrivateModule shares staged content with downstream mirrors; "" none.
	PrivateModule     string   `toml:"private_module" json:"private_module"`
	PrivatePort       int      `toml:"private_port" json:"private_port"`
	PrivateHostsAllow []string `toml:"private_hosts_allow" json:"private_hosts_allow"`
	PrivateUsersFile  string   `toml:"private_users_file" json:"private_users_file"`
}

// Sync configures `mirrorkit sync`, the mirror's sync agent.
type Sync struct {
	// StateDir holds each job's lock, status and saved upstream trace.
	StateDir string `toml:"state_dir" json:"state_dir"`
	// Rsync is the rsync binary; "" looks it up on PATH.
	Rsync string `toml:"rsync" json:"rsync"`
	// PushListen serves POST /sync/JOB in daemon mode; "" turns it off.
	PushListen string `toml:"push_listen" json:"push_listen"`
	// PushTokenFile holds the bearer token pushes must carry.
	PushTokenFile string `toml:"push_token_file" json:"push_token_file"`
	// MetricsListen serves Prometheus /metrics in daemon mode; "" turns it off.
	MetricsListen string `toml:"metrics_listen" json:"metrics_listen"`
	// Jobs by name.
	Jobs map[string]SyncJob `toml:"jobs" json:"jobs"`
}

// SyncJob is one named sync job; zero values take the sync agent's defaults
// (docs/sync.md).
type SyncJob struct {
	Upstream       string   `toml:"upstream" json:"upstream"`
	Dest           string   `toml:"dest" json:"dest"`
	UpstreamTrace  string   `toml:"upstream_trace" json:"upstream_trace,omitempty"`
	Include        []string `toml:"include" json:"include,omitempty"`
	Exclude        []string `toml:"exclude" json:"exclude,omitempty"`
	IncludeFrom    []string `toml:"include_from" json:"include_from,omitempty"`
	ExcludeFrom    []string `toml:"exclude_from" json:"exclude_from,omitempty"`
	Subtrees       []string `toml:"subtrees" json:"subtrees,omitempty"`
	BandwidthLimit int      `toml:"bwlimit" json:"bwlimit,omitempty"`
	PasswordFile   string   `toml:"password_file" json:"password_file,omitempty"`
	Timeout        Duration `toml:"timeout" json:"timeout,omitempty"`
	ConnectTimeout Duration `toml:"contimeout" json:"contimeout,omitempty"`
	Metadata       []string `toml:"metadata" json:"metadata,omitempty"`
	MetadataLast   []string `toml:"metadata_last" json:"metadata_last,omitempty"`
	MaxDelete      float64  `toml:"max_delete" json:"max_delete,omitempty"`
	TraceDir       string   `toml:"trace_dir" json:"trace_dir,omitempty"`
	TraceName      string   `toml:"trace_name" json:"trace_name,omitempty"`
	InProgressFile string   `toml:"in_progress_file" json:"in_progress_file,omitempty"`
	Hook           []string `toml:"hook" json:"hook,omitempty"`
	HookTimeout    Duration `toml:"hook_timeout" json:"hook_timeout,omitempty"`
	Retries        int      `toml:"retries" json:"retries,omitempty"`
	// Every and Jitter schedule the job when `mirrorkit sync --daemon` runs.
	Every  Duration `toml:"every" json:"every,omitempty"`
	Jitter Duration `toml:"jitter" json:"jitter,omitempty"`
}

// Job turns a configured job into the sync agent's form.
func (s *Sync) Job(name string, j SyncJob) syncer.Job {
	return syncer.Job{Name: name, Upstream: j.Upstream, Dest: j.Dest, StateDir: s.StateDir, Rsync: s.Rsync,
		Include: j.Include, Exclude: j.Exclude, IncludeFrom: j.IncludeFrom, ExcludeFrom: j.ExcludeFrom, Subtrees: j.Subtrees,
		BandwidthLimit: j.BandwidthLimit, PasswordFile: j.PasswordFile, Timeout: time.Duration(j.Timeout),
		ConnectTimeout: time.Duration(j.ConnectTimeout), Metadata: j.Metadata, MetadataLast: j.MetadataLast,
		MaxDeleteShare: j.MaxDelete, UpstreamTrace: j.UpstreamTrace, TraceDir: j.TraceDir, TraceName: j.TraceName,
		InProgressFile: j.InProgressFile, Hook: j.Hook, HookTimeout: time.Duration(j.HookTimeout),
		Retry: syncer.Retry{Attempts: j.Retries}}
}

// Geo says where the redirector finds client locations.
type Geo struct {
	// CityFiles are .mmdb files (MaxMind or DB-IP layout), tried in order.
	CityFiles []string `toml:"city_files" json:"city_files"`
	// ASNFiles are .mmdb or .csv range files, tried in order.
	ASNFiles []string `toml:"asn_files" json:"asn_files"`
	// ReloadInterval is how often the files are checked for changes.
	ReloadInterval Duration `toml:"reload_interval" json:"reload_interval"`
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Log:      Log{Level: "info", Format: "text"},
		Store:    Store{DSN: "sqlite:mirrorkit.db", BusyTimeout: Duration(5 * time.Second)},
		Registry: Registry{EmbargoedCountries: []string{}},
		Catalog:  Catalog{Exclude: []string{}, Hashes: []string{"sha256"}},
		Scan: Scan{Interval: Duration(time.Hour), Jitter: Duration(10 * time.Minute), Concurrency: 4,
			Timeout: Duration(30 * time.Minute), IOTimeout: Duration(2 * time.Minute), MaxBackoff: Duration(12 * time.Hour),
			MaxAge: Duration(24 * time.Hour), TraceFiles: []string{"/TIME", "/lastupdate", "/lastsync"}, HTTPRate: 20,
			MetricsListen: "127.0.0.1:9464"},
		Redirector: Redirector{Listen: ":8080", Fallback: []string{}, Status: 302, TrustedProxies: []string{}, Links: 4,
			ServeLocally: policy.DefaultServeLocally(), MinRedirectSize: Size(policy.DefaultMinRedirectSize), AllowOutdated: []AllowOutdated{},
			RefreshInterval: Duration(30 * time.Second), MetricsListen: "127.0.0.1:9465"},
		Geo: Geo{CityFiles: []string{}, ASNFiles: []string{}, ReloadInterval: Duration(time.Hour)},
		Probe: Probe{Enabled: true, Interval: Duration(time.Minute), Timeout: Duration(10 * time.Second), Concurrency: 16,
			DownAfter: 3, UpAfter: 2, MaxLag: []Duration{Duration(24 * time.Hour), Duration(26 * time.Hour), Duration(48 * time.Hour), Duration(72 * time.Hour)}},
		Sync: Sync{StateDir: "/var/lib/mirrorkit/sync", MetricsListen: "127.0.0.1:9467", Jobs: map[string]SyncJob{}},
		Serve: Serve{StateDir: "/var/lib/mirrorkit/serve", ReleaseCheck: Duration(10 * time.Second),
			Listen: ":8080", IdleTimeout: Duration(2 * time.Second), OpenCacheTTL: Duration(time.Second), MaxConnsPerIP: 6, NoRange: []string{},
			MetricsListen: "127.0.0.1:9466", RsyncPort: 873, RsyncModule: "pub", RsyncMaxConnections: 100,
			RsyncTimeout: Duration(15 * time.Minute), RsyncUser: "nobody", RsyncGroup: "nogroup",
			RsyncRefuseOptions: []string{}, PrivatePort: 874, PrivateHostsAllow: []string{}},
	}
}

// EnvPrefix starts every environment override.
const EnvPrefix = "MIRRORKIT_"

// EnvConfig names the config file; it is not a key of the file itself.
const EnvConfig = "MIRRORKIT_CONFIG"

// Override is one value set from outside the file, such as a flag.
type Override struct {
	Key    string // "store.dsn"
	Value  string
	Source string // "--db"
}

// Load builds the configuration: defaults, then the file at path (skipped when
// path is ""), then MIRRORKIT_* variables from env, then overrides. It validates
// the result and returns an *Error listing every problem.
func Load(path string, env []string, overrides ...Override) (*Config, error) {
	var data []byte
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, &Error{Problems: []Problem{{Source: path, Msg: err.Error()}}}
		}
	}
	return Parse(path, data, env, overrides...)
}

// Parse is Load on a file's contents; name is used in messages.
func Parse(name string, data []byte, env []string, overrides ...Override) (*Config, error) {
	c := Default()
	c.file, c.origin, c.lines = name, map[string]string{}, map[string]int{}
	var e Error
	if len(data) > 0 && !c.decode(data, &e) {
		// A file that does not parse says nothing reliable; stop here.
		return nil, &e
	}
	c.applyEnv(env, &e)
	for _, o := range overrides {
		if err := c.set(o.Key, o.Value); err != nil {
			e.add(o.Source, o.Key, err.Error())
		} else {
			c.origin[o.Key] = o.Source
		}
	}
	c.validate(&e)
	if len(e.Problems) > 0 {
		return nil, &e
	}
	return &c, nil
}

var tomlErr = regexp.MustCompile(`^toml: line (\d+)(?: \(last key "([^"]*)"\))?: (.*)$`)

// decode reads the file into c; false means it did not parse at all. Unknown
// keys are recorded as problems but the rest is still checked, so one run shows
// everything that is wrong.
func (c *Config) decode(data []byte, e *Error) bool {
	md, err := toml.Decode(string(data), c)
	if err != nil {
		msg := err.Error()
		p := Problem{Source: c.file, Msg: strings.TrimPrefix(msg, "toml: ")}
		if m := tomlErr.FindStringSubmatch(msg); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			p.Key, p.Msg = m[2], m[3]
		}
		e.Problems = append(e.Problems, p)
		return false
	}
	c.lines = keyLines(data)
	for _, k := range md.Keys() {
		c.origin[k.String()] = c.file
	}
	undecoded := map[string]bool{}
	for _, k := range md.Undecoded() {
		undecoded[k.String()] = true
	}
	for _, k := range md.Undecoded() {
		// Report an unknown table once, not once per key inside it.
		if parentUndecoded(k, undecoded) {
			continue
		}
		key := k.String()
		msg := "unknown key"
		if len(k) == 1 {
			msg = "unknown section"
		}
		if s := suggest(k); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		e.Problems = append(e.Problems, Problem{Source: c.file, Line: c.lineOf(k), Key: key, Msg: msg})
	}
	return true
}

// lineOf is the line of a key, or of its nearest parent written on a line of
// its own (a key inside an inline table shares its table's line).
func (c *Config) lineOf(k toml.Key) int {
	for n := len(k); n > 0; n-- {
		if l, ok := c.lines[k[:n].String()]; ok {
			return l
		}
	}
	return 0
}

func parentUndecoded(k toml.Key, undecoded map[string]bool) bool {
	for i := 1; i < len(k); i++ {
		if undecoded[k[:i].String()] {
			return true
		}
	}
	return false
}

// suggest names the known key closest to an unknown one, for typos.
func suggest(k toml.Key) string {
	// Walk the key's parents through the config's types (lists of tables
	// included) to the struct that should have had the unknown field.
	t := sectionType
	for _, part := range k[:len(k)-1] {
		f, ok := fieldByTag(t, part)
		if !ok {
			return ""
		}
		if t = f.Type; t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return ""
		}
	}
	var candidates []string
	for f := range t.Fields() {
		if tag := f.Tag.Get("toml"); tag != "" {
			candidates = append(candidates, tag)
		}
	}
	best, bestD := "", 3
	for _, cand := range candidates {
		if d := distance(k[len(k)-1], cand); d < bestD {
			best, bestD = cand, d
		}
	}
	return best
}

func (c *Config) applyEnv(env []string, e *Error) {
	vars := slices.Clone(env)
	slices.Sort(vars)
	for _, kv := range vars {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || name == EnvConfig {
			continue
		}
		key, ok := envKey(name)
		if !ok {
			msg := "unknown environment override (each key of docs/mirrorkit.example.toml has one: MIRRORKIT_<SECTION>_<KEY>)"
			best, bestD := "", 4
			for _, n := range envNames() {
				if d := distance(name, n); d < bestD {
					best, bestD = n, d
				}
			}
			if best != "" {
				msg = fmt.Sprintf("unknown environment override; did you mean %s?", best)
			}
			e.add(name, "", msg)
			continue
		}
		if err := c.set(key, value); err != nil {
			e.add(name, key, err.Error())
			continue
		}
		c.origin[key] = name
	}
}

// Limits on values; far outside them something is surely wrong.
const (
	maxOpenConns   = 1000
	maxBusyTimeout = 10 * time.Minute
	minPieceSize   = 64 << 10
	maxPieceSize   = 1 << 30
	maxWorkers     = 256
	maxTier        = 3 // registry tiers are 0..3
)

func (c *Config) validate(e *Error) {
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		c.problem(e, "log.level", fmt.Sprintf("%q is not one of debug, info, warn, error", c.Log.Level))
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		c.problem(e, "log.format", fmt.Sprintf("%q is not text or json", c.Log.Format))
	}
	if strings.TrimSpace(c.Store.DSN) == "" {
		c.problem(e, "store.dsn", "must not be empty")
	}
	if c.Store.MaxOpenConns < 0 || c.Store.MaxOpenConns > maxOpenConns {
		c.problem(e, "store.max_open_conns", fmt.Sprintf("%d is out of range 0..%d", c.Store.MaxOpenConns, maxOpenConns))
	}
	if d := time.Duration(c.Store.BusyTimeout); d < 0 || d > maxBusyTimeout {
		c.problem(e, "store.busy_timeout", fmt.Sprintf("%s is out of range 0s..%s", d, maxBusyTimeout))
	}
	for i, cc := range c.Registry.EmbargoedCountries {
		c.Registry.EmbargoedCountries[i] = strings.ToUpper(strings.TrimSpace(cc))
	}
	if err := registry.CheckCountries("embargoed_countries", c.Registry.EmbargoedCountries); err != nil {
		for _, fe := range err.(registry.Errors) {
			c.problem(e, "registry.embargoed_countries", fe.Msg)
		}
	}
	if _, err := catalog.ParseExcludes(c.Catalog.Exclude); err != nil {
		c.problem(e, "catalog.exclude", err.Error())
	}
	if len(c.Catalog.Hashes) == 0 {
		c.problem(e, "catalog.hashes", "needs at least one of sha256, sha1, md5, sha512")
	}
	for _, h := range c.Catalog.Hashes {
		if !slices.Contains([]string{"sha256", "sha1", "md5", "sha512"}, h) {
			c.problem(e, "catalog.hashes", fmt.Sprintf("%q is not one of sha256, sha1, md5, sha512", h))
		}
	}
	if ps := int64(c.Catalog.PieceSize); ps != 0 && (ps < minPieceSize || ps > maxPieceSize) {
		c.problem(e, "catalog.piece_size", fmt.Sprintf("%s is out of range (0 for none, or %s..%s)", c.Catalog.PieceSize, Size(minPieceSize), Size(maxPieceSize)))
	}
	if d := time.Duration(c.Catalog.Interval); d != 0 && (d < time.Minute || d > 7*24*time.Hour) {
		c.problem(e, "catalog.interval", fmt.Sprintf("%s is out of range (0 for on demand only, or 1m..168h)", d))
	}
	c.checkDuration(e, "scan.interval", c.Scan.Interval, time.Minute, 7*24*time.Hour)
	c.checkDuration(e, "scan.jitter", c.Scan.Jitter, 0, time.Duration(c.Scan.Interval))
	c.checkDuration(e, "scan.timeout", c.Scan.Timeout, 10*time.Second, 24*time.Hour)
	c.checkDuration(e, "scan.io_timeout", c.Scan.IOTimeout, time.Second, time.Hour)
	c.checkDuration(e, "scan.max_backoff", c.Scan.MaxBackoff, time.Minute, 7*24*time.Hour)
	c.checkDuration(e, "scan.max_age", c.Scan.MaxAge, time.Minute, 365*24*time.Hour)
	if c.Scan.Concurrency < 1 || c.Scan.Concurrency > maxWorkers {
		c.problem(e, "scan.concurrency", fmt.Sprintf("%d is out of range 1..%d", c.Scan.Concurrency, maxWorkers))
	}
	if c.Scan.HTTPRate < 1 || c.Scan.HTTPRate > 10000 {
		c.problem(e, "scan.http_rate", fmt.Sprintf("%d is out of range 1..10000", c.Scan.HTTPRate))
	}
	if l := c.Scan.MetricsListen; l != "" {
		if _, port, err := net.SplitHostPort(l); err != nil || port == "" {
			c.problem(e, "scan.metrics_listen", fmt.Sprintf("%q is not HOST:PORT (\"\" turns metrics off)", l))
		}
	}
	c.validateRedirector(e)
	for _, p := range c.Scan.TraceFiles {
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "..") || strings.HasSuffix(p, "/") {
			c.problem(e, "scan.trace_files", fmt.Sprintf("%q must be a file path starting with / (no ..)", p))
		}
	}
	if c.Catalog.Workers < 0 || c.Catalog.Workers > maxWorkers {
		c.problem(e, "catalog.workers", fmt.Sprintf("%d is out of range 0..%d", c.Catalog.Workers, maxWorkers))
	}
}

func (c *Config) validateRedirector(e *Error) {
	r := &c.Redirector
	for _, l := range []struct{ key, addr string }{{"redirector.listen", r.Listen}, {"redirector.metrics_listen", r.MetricsListen}} {
		if l.addr == "" && l.key == "redirector.metrics_listen" {
			continue
		}
		if _, port, err := net.SplitHostPort(l.addr); err != nil || port == "" {
			c.problem(e, l.key, fmt.Sprintf("%q is not HOST:PORT", l.addr))
		}
	}
	if (r.TLSCert == "") != (r.TLSKey == "") {
		c.problem(e, "redirector.tls_cert", "tls_cert and tls_key go together")
	}
	if !slices.Contains([]int{301, 302, 303, 307, 308}, r.Status) {
		c.problem(e, "redirector.status", fmt.Sprintf("%d is not 301, 302, 303, 307 or 308", r.Status))
	}
	for _, f := range r.Fallback {
		if u, err := url.Parse(f); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.problem(e, "redirector.fallback", fmt.Sprintf("%q is not an http(s) base URL", f))
		}
	}
	if _, err := clientip.New(r.TrustedProxies); err != nil {
		c.problem(e, "redirector.trusted_proxies", err.Error())
	}
	if r.Links < 0 || r.Links > 32 {
		c.problem(e, "redirector.links", fmt.Sprintf("%d is out of range 0..32", r.Links))
	}
	if _, err := policy.New(r.ServeLocally, int64(r.MinRedirectSize)); err != nil {
		c.problem(e, "redirector.serve_locally", err.Error())
	} else if _, err := r.Policy(); err != nil {
		c.problem(e, "redirector.allow_outdated", err.Error())
	}
	c.checkDuration(e, "redirector.refresh_interval", r.RefreshInterval, time.Second, time.Hour)
	c.checkDuration(e, "geo.reload_interval", c.Geo.ReloadInterval, time.Minute, 30*24*time.Hour)
	c.validateSync(e)
	if c.Serve.StateDir == "" {
		c.problem(e, "serve.state_dir", "must not be empty")
	}
	c.checkDuration(e, "serve.release_check", c.Serve.ReleaseCheck, time.Second, time.Hour)
	c.validateServe(e)
	c.checkDuration(e, "probe.interval", c.Probe.Interval, time.Second, time.Hour)
	c.checkDuration(e, "probe.timeout", c.Probe.Timeout, time.Second, time.Duration(c.Probe.Interval))
	for _, n := range []struct {
		key    string
		v, max int
	}{{"probe.concurrency", c.Probe.Concurrency, maxWorkers}, {"probe.down_after", c.Probe.DownAfter, 10}, {"probe.up_after", c.Probe.UpAfter, 10}} {
		if n.v < 1 || n.v > n.max {
			c.problem(e, n.key, fmt.Sprintf("%d is out of range 1..%d", n.v, n.max))
		}
	}
	if len(c.Probe.MaxLag) != maxTier+1 {
		c.problem(e, "probe.max_lag", fmt.Sprintf("has %d values; it needs one per tier 0..%d", len(c.Probe.MaxLag), maxTier))
	}
	for i, d := range c.Probe.MaxLag {
		if v := time.Duration(d); v != 0 && (v < time.Minute || v > 365*24*time.Hour) {
			c.problem(e, "probe.max_lag", fmt.Sprintf("tier %d: %s is out of range 1m..8760h (0 is no limit)", i, v))
		}
	}
	for _, f := range c.Geo.ASNFiles {
		if !strings.HasSuffix(f, ".mmdb") && !strings.HasSuffix(f, ".csv") {
			c.problem(e, "geo.asn_files", fmt.Sprintf("%q must end in .mmdb or .csv", f))
		}
	}
}

func (c *Config) validateSync(e *Error) {
	s := &c.Sync
	if s.StateDir == "" {
		c.problem(e, "sync.state_dir", "must not be empty")
	}
	if l := s.MetricsListen; l != "" {
		if _, port, err := net.SplitHostPort(l); err != nil || port == "" {
			c.problem(e, "sync.metrics_listen", fmt.Sprintf("%q is not HOST:PORT (\"\" turns metrics off)", l))
		}
	}
	if l := s.PushListen; l != "" {
		if _, port, err := net.SplitHostPort(l); err != nil || port == "" {
			c.problem(e, "sync.push_listen", fmt.Sprintf("%q is not HOST:PORT (\"\" turns pushes off)", l))
		} else if s.PushTokenFile == "" {
			c.problem(e, "sync.push_listen", "needs push_token_file: pushes are never accepted without a token")
		}
	}
	names := slices.Sorted(maps.Keys(s.Jobs))
	for _, name := range names {
		j := s.Jobs[name]
		key := "sync.jobs." + name
		job := s.Job(name, j)
		err := job.Validate()
		var ve *syncer.ValidationError
		if errors.As(err, &ve) {
			for _, fe := range ve.Fields {
				// The agent names fields as its JSON has them; the file
				// has a few under other names or in [sync] itself.
				field := key + "." + fe.Field
				switch fe.Field {
				case "state_dir", "rsync":
					field = "sync." + fe.Field
				case "max_delete_share":
					field = key + ".max_delete"
				case "retry.attempts", "attempts":
					field = key + ".retries"
				}
				c.problemAt(e, key, field, fe.Problem)
			}
		} else if err != nil {
			c.problemAt(e, key, key, err.Error())
		}
		if d := time.Duration(j.Every); d != 0 && (d < time.Minute || d > 7*24*time.Hour) {
			c.problemAt(e, key, key+".every", fmt.Sprintf("%s is out of range (0 for none, or 1m..168h)", d))
		}
		if j.Jitter < 0 || j.Every > 0 && j.Jitter > j.Every {
			c.problemAt(e, key, key+".jitter", fmt.Sprintf("%s is out of range 0s..every", j.Jitter))
		}
	}
}

func (c *Config) validateServe(e *Error) {
	v := &c.Serve
	for _, l := range []struct{ key, addr string }{{"serve.listen", v.Listen}, {"serve.listen_tls", v.ListenTLS},
		{"serve.metrics_listen", v.MetricsListen}} {
		if l.addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(l.addr); err != nil || port == "" {
			c.problem(e, l.key, fmt.Sprintf("%q is not HOST:PORT (\"\" turns it off)", l.addr))
		}
	}
	if v.ListenTLS != "" && (v.TLSCert == "" || v.TLSKey == "") {
		c.problem(e, "serve.listen_tls", "needs tls_cert and tls_key")
	}
	c.checkDuration(e, "serve.idle_timeout", v.IdleTimeout, 100*time.Millisecond, 10*time.Minute)
	if v.OpenCacheTTL != 0 {
		c.checkDuration(e, "serve.open_cache_ttl", v.OpenCacheTTL, time.Millisecond, time.Minute)
	}
	c.checkDuration(e, "serve.rsync_timeout", v.RsyncTimeout, 10*time.Second, 24*time.Hour)
	for _, n := range []struct {
		key       string
		v, lo, hi int
	}{{"serve.max_conns_per_ip", v.MaxConnsPerIP, 0, 10000}, {"serve.rsync_port", v.RsyncPort, 0, 65535},
		{"serve.private_port", v.PrivatePort, 0, 65535}, {"serve.rsync_max_connections", v.RsyncMaxConnections, 0, 100000}} {
		if n.v < n.lo || n.v > n.hi {
			c.problem(e, n.key, fmt.Sprintf("%d is out of range %d..%d", n.v, n.lo, n.hi))
		}
	}
	if v.PrivateModule != "" && len(v.PrivateHostsAllow) == 0 && v.PrivateUsersFile == "" {
		c.problem(e, "serve.private_module", "needs private_hosts_allow or private_users_file: staged content is never open to all")
	}
	for _, h := range v.PrivateHostsAllow {
		if _, err := netip.ParsePrefix(h); err != nil {
			if _, aerr := netip.ParseAddr(h); aerr != nil {
				c.problem(e, "serve.private_hosts_allow", fmt.Sprintf("%q is neither an address nor a CIDR", h))
			}
		}
	}
}

// problemAt is problem for a key inside a table: it names the key and takes
// the line of the nearest part of it the file has.
func (c *Config) problemAt(e *Error, table, key, msg string) {
	src, line := c.origin[table], 0
	if src == "" {
		src = c.origin["sync.jobs"]
	}
	if src == c.file {
		line = c.lineOf(toml.Key(strings.Split(key, ".")))
	}
	if src == "" {
		src = "default"
	}
	e.Problems = append(e.Problems, Problem{Source: src, Line: line, Key: key, Msg: msg})
}

func (c *Config) checkDuration(e *Error, key string, d Duration, lo, hi time.Duration) {
	if v := time.Duration(d); v < lo || v > hi {
		c.problem(e, key, fmt.Sprintf("%s is out of range %s..%s", v, lo, hi))
	}
}

// problem records a bad value with where it came from.
func (c *Config) problem(e *Error, key, msg string) {
	src, line := c.origin[key], 0
	if src == c.file {
		line = c.lines[key]
	}
	if src == "" {
		src = "default"
	}
	e.Problems = append(e.Problems, Problem{Source: src, Line: line, Key: key, Msg: msg})
}

// Origin says where a key's value came from: a file name, a variable, a flag, or
// "default".
func (c *Config) Origin(key string) string {
	if o := c.origin[key]; o != "" {
		return o
	}
	return "default"
}

// Value returns the value of "section.key", for showing the effective
// configuration; ok is false for an unknown key.
func (c *Config) Value(key string) (v any, ok bool) {
	f, ok := c.field(key)
	if !ok {
		return nil, false
	}
	return f.Interface(), true
}

// File is the path the configuration was read from ("" when none).
func (c *Config) File() string { return c.file }

// Duration is a time.Duration written as "5s", "4h30m" in TOML and variables.
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 30s, 5m or 4h", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// String implements fmt.Stringer.
func (d Duration) String() string { return time.Duration(d).String() }

// Size is a byte count written as "4MiB", "700MB" or plain bytes.
type Size int64

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Size) UnmarshalText(b []byte) error {
	n, err := humanize.ParseBytes(strings.TrimSpace(string(b)))
	if err != nil || n > 1<<62 {
		return fmt.Errorf("%q is not a size such as 4MiB or 700MB", b)
	}
	*s = Size(n)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// String implements fmt.Stringer: exact, in the largest binary unit that divides it.
func (s Size) String() string {
	n := int64(s)
	for _, u := range []struct {
		name string
		v    int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.v == 0 {
			return fmt.Sprintf("%d%s", n/u.v, u.name)
		}
	}
	return strconv.FormatInt(n, 10)
}

// sectionType is the reflect type of Config, the source of all key names.
var sectionType = reflect.TypeFor[Config]()

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	for f := range t.Fields() {
		if f.Tag.Get("toml") == tag {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func sections() []string {
	var out []string
	for f := range sectionType.Fields() {
		if tag := f.Tag.Get("toml"); tag != "" {
			out = append(out, tag)
		}
	}
	return out
}

func sectionFields(section string) ([]string, bool) {
	for f := range sectionType.Fields() {
		if f.Tag.Get("toml") == section {
			var out []string
			for sf := range f.Type.Fields() {
				out = append(out, sf.Tag.Get("toml"))
			}
			return out, true
		}
	}
	return nil, false
}

// Keys lists every "section.key" the configuration knows, in declaration order.
func Keys() []string {
	var out []string
	for _, s := range sections() {
		fields, _ := sectionFields(s)
		for _, f := range fields {
			out = append(out, s+"."+f)
		}
	}
	return out
}

// EnvName is the environment variable that overrides key ("store.dsn" →
// MIRRORKIT_STORE_DSN).
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func envNames() []string {
	var out []string
	for _, k := range Keys() {
		out = append(out, EnvName(k))
	}
	return out
}

func envKey(name string) (string, bool) {
	for _, k := range Keys() {
		if EnvName(k) == name {
			return k, true
		}
	}
	return "", false
}

// field finds the settable value behind "section.key".
func (c *Config) field(key string) (reflect.Value, bool) {
	section, name, ok := strings.Cut(key, ".")
	if !ok {
		return reflect.Value{}, false
	}
	v := reflect.ValueOf(c).Elem()
	for f := range sectionType.Fields() {
		if f.Tag.Get("toml") != section {
			continue
		}
		sv := v.FieldByIndex(f.Index)
		for sf := range f.Type.Fields() {
			if sf.Tag.Get("toml") == name {
				return sv.FieldByIndex(sf.Index), true
			}
		}
	}
	return reflect.Value{}, false
}

// set assigns a value given as text (from a variable or a flag) to key, with the
// same types the TOML file has; lists are comma-separated.
func (c *Config) set(key, raw string) error {
	v, ok := c.field(key)
	if !ok {
		return fmt.Errorf("unknown key %q", key)
	}
	if u, ok := v.Addr().Interface().(interface{ UnmarshalText([]byte) error }); ok {
		return u.UnmarshalText([]byte(raw))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", raw)
		}
		v.SetInt(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("%q is not true or false", raw)
		}
		v.SetBool(b)
	case reflect.Slice:
		if reflect.PointerTo(v.Type().Elem()).Implements(reflect.TypeFor[interface{ UnmarshalText([]byte) error }]()) {
			// A list of durations or sizes: comma-separated, each parsed
			// as the file would.
			items := reflect.MakeSlice(v.Type(), 0, 4)
			for i, s := range strings.Split(raw, ",") {
				item := reflect.New(v.Type().Elem())
				if err := item.Interface().(interface{ UnmarshalText([]byte) error }).UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
					return fmt.Errorf("item %d: %w", i+1, err)
				}
				items = reflect.Append(items, item.Elem())
			}
			v.Set(items)
			return nil
		}
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("key %q is a list of tables; set it in the config file", key)
		}
		items := []string{}
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		v.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("key %q of kind %s cannot be set from text", key, v.Kind())
	}
	return nil
}

// distance is the Levenshtein distance, for "did you mean" hints.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
