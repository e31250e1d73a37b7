package rsyncd

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Defaults for a Config; Defaults returns a Config holding them.
const (
	// DefaultPort is rsync's registered port.
	DefaultPort = 873
	// DefaultModule is the name of the public module.
	DefaultModule = "pub"
	// DefaultMaxConnections is the Fedora seed's per-module limit.
	DefaultMaxConnections = 100
	// DefaultTimeout is the Fedora seed's I/O timeout: a client that sends
	// nothing for this long is dropped, so dead clients do not hold
	// connection slots.
	DefaultTimeout = 900 * time.Second
	// DefaultUID and DefaultGID are the unprivileged account public modules
	// serve as when the daemon starts as root (Debian's names).
	DefaultUID = "nobody"
	DefaultGID = "nogroup"
	// DefaultPrivatePort is the port the Fedora seed uses for the private
	// daemon that shares staged content with downstream mirrors.
	DefaultPrivatePort = 874
)

// DefaultDontCompress lists suffixes of files that are already compressed:
// compressing them again for a client that asks for -z costs CPU and saves
// nothing.
func DefaultDontCompress() []string {
	return []string{
		"*.7z", "*.apk", "*.bz2", "*.cab", "*.deb", "*.drpm", "*.gz", "*.iso",
		"*.jar", "*.jpeg", "*.jpg", "*.lz", "*.lz4", "*.lzma", "*.mp3", "*.mp4",
		"*.ogg", "*.pkg.tar.*", "*.png", "*.qcow2", "*.rar", "*.rpm", "*.snap",
		"*.squashfs", "*.tbz", "*.tbz2", "*.tgz", "*.txz", "*.udeb", "*.webp",
		"*.whl", "*.xz", "*.z", "*.Z", "*.zip", "*.zst",
	}
}

// DefaultExclude hides what a sync in progress leaves in the tree:
// rsync's --delay-updates directory. The module parameter keeps clients
// from listing or fetching it.
func DefaultExclude() []string { return []string{".~tmp~/"} }

// AlwaysRefused are the options every module refuses whatever
// Config.RefuseOptions says: a public --checksum run makes the server read
// every byte of every file it compares.
func AlwaysRefused() []string { return []string{"checksum"} }

// Config describes the rsync daemon(s) of a mirror. Build one with Defaults
// and override what the operator configured; Generate validates it.
type Config struct {
	// Address is the address the daemon listens on; "" listens on all.
	Address string
	// Port is the daemon's TCP port.
	Port int
	// StateDir is an absolute directory for the files mirrorkit writes and
	// rsync keeps: rsyncd.conf, pid and lock files, the secrets file and
	// the message of the day. It must not be readable by the public user.
	StateDir string
	// LogFile is rsync's log file; "" writes "log file = /dev/stderr",
	// rsync's standard error, which the Supervisor forwards line by line to
	// its slog.Logger (without any log file rsync would log to syslog).
	LogFile string
	// MOTD is a message of the day that clients see before a listing;
	// it is written to StateDir. MOTDFile names an existing file instead.
	// At most one of them is set.
	MOTD     string
	MOTDFile string
	// MaxConnections limits each module's concurrent clients, unless the
	// module sets its own; 0 is unlimited.
	MaxConnections int
	// Timeout drops a client idle for this long (whole seconds); 0 never does.
	Timeout time.Duration
	// Root says that the daemon is started as root (the CLI sets it from
	// os.Geteuid() == 0). Only then are uid and gid written: rsync started
	// as root switches to them for each connection, and rsync started as
	// anyone else cannot switch and would fail every connection with
	// "@ERROR: setgid failed". Root also turns on "use chroot".
	Root bool
	// UID and GID are the user and group public modules serve as when Root.
	// They must not be able to read staged content.
	UID, GID string
	// TransferLogging logs every file sent.
	TransferLogging bool
	// DontCompress lists file-name patterns rsync never compresses.
	DontCompress []string
	// RefuseOptions are refused in addition to AlwaysRefused.
	RefuseOptions []string
	// Modules are the public modules; at least one.
	Modules []Module
	// Private, when set, is the access-controlled module that shares
	// staged content with downstream mirrors.
	Private *Private
}

// Module is a public, read-only module.
type Module struct {
	// Name is the module's name: letters, digits, '.', '_', '-'.
	Name string
	// Path is the absolute directory served.
	Path string
	// Comment is shown next to the name in the module list.
	Comment string
	// MaxConnections overrides Config.MaxConnections when non-zero.
	MaxConnections int
	// Exclude adds patterns to DefaultExclude.
	Exclude []string
}

// Private is the module for pre-bit-flip distribution to downstream mirrors.
// It needs HostsAllow, Users or both (a client must then pass both).
type Private struct {
	// Name, Path, Comment, MaxConnections and Exclude are as in Module.
	Name           string
	Path           string
	Comment        string
	MaxConnections int
	Exclude        []string
	// Port, when non-zero, runs the module in a second daemon on this port
	// (DefaultPrivatePort is the Fedora seed's); 0 makes it a module of the
	// public daemon.
	Port int
	// Address is the second daemon's listen address; "" is Config.Address.
	Address string
	// HostsAllow are the networks allowed to connect; all others are denied.
	HostsAllow []netip.Prefix
	// Users may log in with their password (rsync's "auth users").
	// Passwords are written only to the secrets file, never to rsyncd.conf.
	Users []User
	// UID and GID are who the module serves as when Config.Root: a user
	// that can read staged content (the seed's "mirror" account, or one in
	// its group), not the public user.
	UID, GID string
	// List shows the module in the daemon's module list; off by default,
	// so that the private module is not advertised.
	List bool
}

// User is one login of the private module.
type User struct {
	Name     string
	Password string
}

// Defaults returns a Config with every default set and one public module
// named DefaultModule serving root. stateDir and root are as in Config and
// Module; asRoot is Config.Root.
func Defaults(root, stateDir string, asRoot bool) Config {
	return Config{
		Port:            DefaultPort,
		StateDir:        stateDir,
		MaxConnections:  DefaultMaxConnections,
		Timeout:         DefaultTimeout,
		Root:            asRoot,
		UID:             DefaultUID,
		GID:             DefaultGID,
		TransferLogging: true,
		DontCompress:    DefaultDontCompress(),
		Modules:         []Module{{Name: DefaultModule, Path: root}},
	}
}

// FieldError is a rejected Config value. Field is its name as the
// configuration spells it (e.g. "modules[0].path", "private.users[1].name").
type FieldError struct {
	Field string
	Value string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("rsyncd: %s: %s", e.Field, e.Msg)
	}
	return fmt.Sprintf("rsyncd: %s %q: %s", e.Field, e.Value, e.Msg)
}

// Validate reports every problem in c, each a *FieldError, joined.
func (c Config) Validate() error {
	v := &validator{}
	v.address("address", c.Address)
	v.port("port", c.Port)
	v.absPath("state_dir", c.StateDir, true)
	v.absPath("log_file", c.LogFile, false)
	if c.MOTD != "" && c.MOTDFile != "" {
		v.fail("motd_file", "", "set either motd or motd_file, not both")
	}
	v.absPath("motd_file", c.MOTDFile, false)
	if strings.ContainsRune(c.MOTD, 0) || !utf8.ValidString(c.MOTD) {
		v.fail("motd", "", "must be UTF-8 text without NUL bytes")
	}
	v.nonNegative("max_connections", c.MaxConnections)
	if c.Timeout < 0 || c.Timeout%time.Second != 0 {
		v.fail("timeout", c.Timeout.String(), "must be zero or a positive whole number of seconds")
	}
	if c.Root {
		v.account("uid", c.UID, true)
		v.account("gid", c.GID, true)
	}
	for i, p := range c.DontCompress {
		v.word(fmt.Sprintf("dont_compress[%d]", i), p)
	}
	for i, o := range c.RefuseOptions {
		f := fmt.Sprintf("refuse_options[%d]", i)
		if o == "" || strings.IndexFunc(o, func(r rune) bool {
			return !(r < utf8.RuneSelf && (isAlnum(byte(r)) || strings.ContainsRune("-_*?!", r)))
		}) >= 0 {
			v.fail(f, o, "must be an rsync option name (letters, digits, '-', '_', wildcards * and ?, a leading '!')")
		}
	}
	if len(c.Modules) == 0 {
		v.fail("modules", "", "at least one public module is required")
	}
	names := map[string]string{}
	for i, m := range c.Modules {
		f := fmt.Sprintf("modules[%d]", i)
		v.module(f, m.Name, m.Path, m.Comment, m.MaxConnections, m.Exclude, names)
	}
	if p := c.Private; p != nil {
		v.module("private", p.Name, p.Path, p.Comment, p.MaxConnections, p.Exclude, names)
		if p.Port != 0 {
			v.port("private.port", p.Port)
			if p.Port == c.Port && (p.Address == "" || p.Address == c.Address) {
				v.fail("private.port", fmt.Sprint(p.Port), "is the public daemon's port; use 0 to make the private module a module of the public daemon")
			}
		} else if p.Address != "" {
			v.fail("private.address", p.Address, "only applies with private.port (a daemon of its own)")
		}
		v.address("private.address", p.Address)
		if len(p.HostsAllow) == 0 && len(p.Users) == 0 {
			v.fail("private", "", "needs hosts_allow, users or both: without them staged content is public")
		}
		for i, pfx := range p.HostsAllow {
			if !pfx.IsValid() {
				v.fail(fmt.Sprintf("private.hosts_allow[%d]", i), "", "is not a valid CIDR prefix")
			}
		}
		seen := map[string]bool{}
		for i, u := range p.Users {
			f := fmt.Sprintf("private.users[%d]", i)
			if !validName(u.Name) {
				v.fail(f+".name", u.Name, "must be letters, digits, '.', '_', '-', starting with a letter or digit")
			} else if seen[u.Name] {
				v.fail(f+".name", u.Name, "is listed twice")
			}
			seen[u.Name] = true
			switch {
			case u.Password == "":
				v.fail(f+".password", "", "is empty")
			case strings.IndexFunc(u.Password, unicode.IsControl) >= 0 || !utf8.ValidString(u.Password):
				v.fail(f+".password", "", "must be UTF-8 without control characters")
			case strings.TrimSpace(u.Password) != u.Password:
				v.fail(f+".password", "", "must not start or end with white space")
			}
		}
		if c.Root {
			v.account("private.uid", p.UID, true)
			v.account("private.gid", p.GID, true)
			if p.UID != "" && p.UID == c.UID && p.GID == c.GID {
				v.fail("private.uid", p.UID, "is the public user: it could not read staged content, or the public could")
			}
		} else {
			v.account("private.uid", p.UID, false)
			v.account("private.gid", p.GID, false)
		}
	}
	return errors.Join(v.errs...)
}

type validator struct{ errs []error }

func (v *validator) fail(field, value, msg string) {
	v.errs = append(v.errs, &FieldError{Field: field, Value: value, Msg: msg})
}

func (v *validator) module(f, name, path, comment string, maxConn int, exclude []string, names map[string]string) {
	switch {
	case !validName(name):
		v.fail(f+".name", name, "must be letters, digits, '.', '_', '-', starting with a letter or digit")
	case strings.EqualFold(name, "global"):
		v.fail(f+".name", name, "is reserved by rsync for global settings")
	case names[strings.ToLower(name)] != "":
		v.fail(f+".name", name, "is also the name of "+names[strings.ToLower(name)])
	default:
		names[strings.ToLower(name)] = f
	}
	v.absPath(f+".path", path, true)
	v.text(f+".comment", comment)
	v.nonNegative(f+".max_connections", maxConn)
	for i, e := range exclude {
		v.word(fmt.Sprintf("%s.exclude[%d]", f, i), e)
	}
}

func (v *validator) port(f string, p int) {
	if p < 1 || p > 65535 {
		v.fail(f, fmt.Sprint(p), "must be 1..65535")
	}
}

func (v *validator) nonNegative(f string, n int) {
	if n < 0 {
		v.fail(f, fmt.Sprint(n), "must not be negative")
	}
}

func (v *validator) address(f, a string) {
	if a == "" {
		return
	}
	if _, err := netip.ParseAddr(a); err != nil {
		v.fail(f, a, "must be an IP address (rsync binds to one address or all)")
	}
}

// absPath accepts clean absolute paths whose every byte survives rsync's
// config parser unchanged.
func (v *validator) absPath(f, p string, required bool) {
	switch {
	case p == "":
		if required {
			v.fail(f, "", "is required")
		}
	case !unsafeValue(p) && filepath.IsAbs(p) && filepath.Clean(p) == p:
	case unsafeValue(p):
		v.fail(f, p, unsafeMsg)
	default:
		v.fail(f, p, "must be a clean absolute path")
	}
}

// text accepts free text (a comment): one line that rsync keeps as it is.
func (v *validator) text(f, s string) {
	if s != "" && unsafeValue(s) {
		v.fail(f, s, unsafeMsg)
	}
}

// word accepts a pattern in a space-separated list.
func (v *validator) word(f, s string) {
	switch {
	case s == "":
		v.fail(f, "", "is empty")
	case unsafeValue(s) || strings.ContainsFunc(s, unicode.IsSpace):
		v.fail(f, s, "must be one word without white space, '%', '\\' or control characters")
	}
}

func (v *validator) account(f, s string, required bool) {
	if s == "" {
		if required {
			v.fail(f, "", "is required when the daemon runs as root")
		}
		return
	}
	if !validName(s) {
		v.fail(f, s, "must be a user or group name or number (letters, digits, '.', '_', '-')")
	}
}

const unsafeMsg = "must be UTF-8 without control characters, '%' (rsync expands %VAR%), '\\' (line continuation) or surrounding white space"

// unsafeValue reports values rsync's parser would not keep byte for byte,
// or that could end the line they are on.
func unsafeValue(s string) bool {
	return !utf8.ValidString(s) ||
		strings.TrimSpace(s) != s ||
		strings.ContainsAny(s, "%\\") ||
		strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }) >= 0
}

// validName is the shape of module, user and account names: it cannot
// contain a bracket, '=', ',', ':', white space or anything else with a
// meaning in rsyncd.conf or the secrets file.
func validName(s string) bool {
	if s == "" || len(s) > 64 || !isAlnum(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-' {
			return false
		}
	}
	return true
}

func isAlnum(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// refused is AlwaysRefused then c.RefuseOptions, without repeats.
func (c Config) refused() []string {
	out := AlwaysRefused()
	for _, o := range c.RefuseOptions {
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}
