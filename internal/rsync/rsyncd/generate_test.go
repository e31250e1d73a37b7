package rsyncd

import (
	"bytes"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func goldenConfigs() map[string]Config {
	defaults := Defaults("/srv/pub", "/var/lib/mirrorkit/rsyncd", true)
	defaults.MOTD = "Welcome to the example mirror.\nPlease use a mirror near you."

	full := Defaults("/srv/pub", "/var/lib/mirrorkit/rsyncd", true)
	full.Address = "192.0.2.10"
	full.LogFile = "/var/log/mirrorkit/rsyncd.log"
	full.MOTDFile = "/etc/mirrorkit/motd"
	full.MaxConnections = 50
	full.Timeout = 600 * time.Second
	full.UID, full.GID = "rsync", "rsync"
	full.RefuseOptions = []string{"checksum", "delete", "compress-level"}
	full.DontCompress = []string{"*.gz", "*.iso"}
	full.Modules = []Module{
		{Name: "fedora", Path: "/srv/pub/fedora", Comment: "Fedora Linux", MaxConnections: 200, Exclude: []string{"lost+found/"}},
		{Name: "epel", Path: "/srv/pub/epel", Comment: "Extra Packages for Enterprise Linux"},
	}
	full.Private = &Private{
		Name: "fedora-staged", Path: "/srv/pub/fedora", Comment: "pre-bit-flip content for tier 2",
		Port:       DefaultPrivatePort,
		HostsAllow: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8::/32")},
		Users:      []User{{Name: "tier2-a", Password: "s3cret"}, {Name: "tier2-b", Password: "other secret"}},
		UID:        "mirror", GID: "mirror", MaxConnections: 10,
	}

	shared := Defaults("/home/mirror/pub", "/home/mirror/state", false)
	shared.TransferLogging = false
	shared.DontCompress = nil
	shared.Port = 8730
	shared.Private = &Private{
		Name: "staged", Path: "/home/mirror/pub",
		HostsAllow: []netip.Prefix{netip.MustParsePrefix("203.0.113.7/32")},
	}
	return map[string]Config{"defaults": defaults, "full": full, "shared-private": shared}
}

func TestGenerateGolden(t *testing.T) {
	for name, cfg := range goldenConfigs() {
		t.Run(name, func(t *testing.T) {
			pub, err := Generate(cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, name+".golden", pub)
			priv, err := GeneratePrivate(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if (priv != nil) != (cfg.PrivateConfigPath() != "") {
				t.Fatalf("GeneratePrivate returned %d bytes, PrivateConfigPath %q", len(priv), cfg.PrivateConfigPath())
			}
			if priv != nil {
				checkGolden(t, name+"-private.golden", priv)
			}
			again, _ := Generate(cfg)
			if !bytes.Equal(pub, again) {
				t.Fatal("Generate is not deterministic")
			}
			for _, u := range usersOf(cfg) {
				if bytes.Contains(pub, []byte(u.Password)) || bytes.Contains(priv, []byte(u.Password)) {
					t.Fatalf("password of %s in rsyncd.conf", u.Name)
				}
			}
		})
	}
}

func usersOf(c Config) []User {
	if c.Private == nil {
		return nil
	}
	return c.Private.Users
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	base := func() Config { return Defaults("/srv/pub", "/state", true) }
	priv := func(c *Config) *Private {
		c.Private = &Private{Name: "staged", Path: "/srv/pub", UID: "mirror", GID: "mirror",
			HostsAllow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}
		return c.Private
	}
	cases := []struct {
		field  string
		mutate func(*Config)
	}{
		{"port", func(c *Config) { c.Port = 0 }},
		{"port", func(c *Config) { c.Port = 70000 }},
		{"address", func(c *Config) { c.Address = "example.org" }},
		{"state_dir", func(c *Config) { c.StateDir = "" }},
		{"state_dir", func(c *Config) { c.StateDir = "relative/dir" }},
		{"log_file", func(c *Config) { c.LogFile = "/var/log/x\n[evil]" }},
		{"motd_file", func(c *Config) { c.MOTD, c.MOTDFile = "hi", "/etc/motd" }},
		{"max_connections", func(c *Config) { c.MaxConnections = -1 }},
		{"timeout", func(c *Config) { c.Timeout = 1500 * time.Millisecond }},
		{"uid", func(c *Config) { c.UID = "" }},
		{"gid", func(c *Config) { c.GID = "no body" }},
		{"dont_compress[0]", func(c *Config) { c.DontCompress = []string{"*.gz *.x"} }},
		{"refuse_options[0]", func(c *Config) { c.RefuseOptions = []string{"delete\nread only = no"} }},
		{"modules", func(c *Config) { c.Modules = nil }},
		{"modules[0].name", func(c *Config) { c.Modules[0].Name = "pub]\n[evil" }},
		{"modules[0].name", func(c *Config) { c.Modules[0].Name = "global" }},
		{"modules[1].name", func(c *Config) { c.Modules = append(c.Modules, Module{Name: "PUB", Path: "/x"}) }},
		{"modules[0].path", func(c *Config) { c.Modules[0].Path = "/srv/%HOME%" }},
		{"modules[0].path", func(c *Config) { c.Modules[0].Path = "/srv/pub/../etc" }},
		{"modules[0].comment", func(c *Config) { c.Modules[0].Comment = "line\\" }},
		{"modules[0].comment", func(c *Config) { c.Modules[0].Comment = "a\n\tread only = no" }},
		{"modules[0].exclude[0]", func(c *Config) { c.Modules[0].Exclude = []string{""} }},
		{"modules[0].max_connections", func(c *Config) { c.Modules[0].MaxConnections = -3 }},
		{"private", func(c *Config) { priv(c).HostsAllow = nil }},
		{"private.name", func(c *Config) { priv(c).Name = "pub" }},
		{"private.port", func(c *Config) { priv(c).Port = c.Port }},
		{"private.address", func(c *Config) { priv(c).Address = "127.0.0.1" }},
		{"private.hosts_allow[0]", func(c *Config) { priv(c).HostsAllow = []netip.Prefix{{}} }},
		{"private.users[0].name", func(c *Config) { priv(c).Users = []User{{Name: "a:b", Password: "p"}} }},
		{"private.users[1].name", func(c *Config) { priv(c).Users = []User{{Name: "a", Password: "p"}, {Name: "a", Password: "q"}} }},
		{"private.users[0].password", func(c *Config) { priv(c).Users = []User{{Name: "a", Password: "p\nb:q"}} }},
		{"private.users[0].password", func(c *Config) { priv(c).Users = []User{{Name: "a"}} }},
		{"private.uid", func(c *Config) { priv(c).UID = "" }},
		{"private.uid", func(c *Config) { p := priv(c); p.UID, p.GID = c.UID, c.GID }},
	}
	for _, tc := range cases {
		c := base()
		tc.mutate(&c)
		err := c.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: want a *FieldError, got %v", tc.field, err)
			continue
		}
		if fe.Field != tc.field {
			t.Errorf("want the error to name %s, got %v", tc.field, err)
		}
		if _, gerr := Generate(c); gerr == nil {
			t.Errorf("%s: Generate accepted what Validate rejects", tc.field)
		}
	}
	if err := base().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

func TestWriteFiles(t *testing.T) {
	cfg := goldenConfigs()["full"]
	cfg.StateDir = filepath.Join(t.TempDir(), "state")
	cfg.MOTDFile, cfg.MOTD = "", "hello"
	if err := WriteFiles(cfg); err != nil {
		t.Fatal(err)
	}
	for path, mode := range map[string]os.FileMode{
		cfg.ConfigPath(): 0o644, cfg.PrivateConfigPath(): 0o644, cfg.SecretsPath(): 0o600,
		filepath.Join(cfg.StateDir, motdName): 0o644, cfg.StateDir: 0o700 | os.ModeDir,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), mode)
		}
	}
	sec, _ := os.ReadFile(cfg.SecretsPath())
	if string(sec) != "tier2-a:s3cret\ntier2-b:other secret\n" {
		t.Errorf("secrets file: %q", sec)
	}
	conf, _ := os.ReadFile(cfg.ConfigPath())
	if want, _ := Generate(cfg); !bytes.Equal(conf, want) {
		t.Error("rsyncd.conf on disk is not Generate's output")
	}
	entries, _ := os.ReadDir(cfg.StateDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
	bad := cfg
	bad.Port = -1
	if err := WriteFiles(bad); err == nil {
		t.Fatal("WriteFiles accepted an invalid config")
	}
	if again, _ := os.ReadFile(cfg.ConfigPath()); !bytes.Equal(again, conf) {
		t.Fatal("a rejected config changed the file")
	}
}
