package syncer

import (
	"errors"
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"
)

// DefaultRsyncPort is the rsync daemon's port, left out of canonical URLs.
const DefaultRsyncPort = 873

// Upstream is a parsed rsync daemon location: the tree a job copies.
type Upstream struct {
	// User is the daemon login ("" for anonymous modules).
	User string
	// Host is a name or an IP address (IPv6 without brackets).
	Host string
	// Port is the daemon's TCP port; 0 means DefaultRsyncPort.
	Port int
	// Module is the rsync module's name.
	Module string
	// Path is the directory inside the module, cleaned, without leading or
	// trailing slashes; "" is the module's root.
	Path string
}

// Upstream URL errors; a *URLError wraps one of them.
var (
	ErrURLScheme = errors.New("not an rsync daemon URL (want rsync://host[:port]/module/path or host::module/path)")
	ErrURLHost   = errors.New("bad host")
	ErrURLPort   = errors.New("bad port")
	ErrURLModule = errors.New("bad module")
	ErrURLPath   = errors.New("bad path")
)

// URLError says what is wrong with an upstream URL.
type URLError struct {
	URL    string
	Err    error
	Detail string
}

func (e *URLError) Error() string {
	msg := fmt.Sprintf("upstream %q: %v", e.URL, e.Err)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

func (e *URLError) Unwrap() error { return e.Err }

// ParseUpstream parses rsync://[user@]host[:port]/module[/path] or the
// daemon shorthand [user@]host::module[/path]. IPv6 hosts are bracketed in
// both forms. A remote-shell location (host:path, one colon) is refused:
// the agent only talks to daemons, which is what every distribution's
// mirrors publish.
func ParseUpstream(s string) (Upstream, error) {
	bad := func(err error, detail string, args ...any) (Upstream, error) {
		return Upstream{}, &URLError{URL: s, Err: err, Detail: fmt.Sprintf(detail, args...)}
	}
	if strings.ContainsAny(s, "\x00\n\r\t ") {
		return bad(ErrURLScheme, "contains whitespace or control characters")
	}
	var authority, rest string
	switch {
	case strings.HasPrefix(s, "rsync://"):
		authority, rest, _ = strings.Cut(s[len("rsync://"):], "/")
	case strings.Contains(s, "://"):
		return bad(ErrURLScheme, "scheme %q", s[:strings.Index(s, "://")])
	default:
		// host::module/path, where host may be [v6].
		i := daemonSep(s)
		if i < 0 {
			return bad(ErrURLScheme, "")
		}
		authority, rest = s[:i], s[i+2:]
	}
	var u Upstream
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		u.User, authority = authority[:at], authority[at+1:]
		if u.User == "" || strings.ContainsAny(u.User, "/:@[]") {
			return bad(ErrURLHost, "user %q", u.User)
		}
	}
	host, port, err := splitHostPort(authority)
	if err != nil {
		return bad(ErrURLHost, "%v", err)
	}
	if port != "" {
		if strings.HasPrefix(s, "rsync://") {
			n, err := strconv.Atoi(port)
			if err != nil || n < 1 || n > 65535 || port[0] == '0' || port[0] == '+' {
				return bad(ErrURLPort, "%q is not a port in 1-65535", port)
			}
			u.Port = n
		} else {
			return bad(ErrURLHost, "a port needs the rsync:// form")
		}
	}
	if err := checkHost(host); err != nil {
		return bad(ErrURLHost, "%v", err)
	}
	u.Host = host
	module, p, _ := strings.Cut(rest, "/")
	if module == "" {
		return bad(ErrURLModule, "no module named")
	}
	if strings.ContainsAny(module, "[]:%?#\\") || module == "." || module == ".." {
		return bad(ErrURLModule, "%q", module)
	}
	u.Module = module
	if p != "" {
		for _, el := range strings.Split(strings.Trim(p, "/"), "/") {
			if el == ".." {
				return bad(ErrURLPath, "%q climbs out of the module", p)
			}
		}
		if strings.ContainsAny(p, "*?[\\") {
			return bad(ErrURLPath, "%q has wildcard characters", p)
		}
		c := strings.Trim(path.Clean("/"+p), "/")
		u.Path = c
	}
	if u.Port == DefaultRsyncPort {
		u.Port = 0
	}
	return u, nil
}

// daemonSep finds the "::" of host::module, skipping a bracketed IPv6 host.
func daemonSep(s string) int {
	first := strings.Index(s, "::")
	if first < 0 {
		return -1
	}
	start := 0
	if open := strings.IndexByte(s, '['); open >= 0 && open < first {
		end := strings.IndexByte(s[open:], ']')
		if end < 0 {
			return -1
		}
		start = open + end
	}
	i := strings.Index(s[start:], "::")
	if i < 0 {
		return -1
	}
	return start + i
}

func splitHostPort(a string) (host, port string, err error) {
	if strings.HasPrefix(a, "[") {
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return "", "", errors.New("unclosed [")
		}
		host, rest := a[1:end], a[end+1:]
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil {
			return "", "", fmt.Errorf("%q in brackets is not an IPv6 address", host)
		}
		switch {
		case rest == "":
			return host, "", nil
		case strings.HasPrefix(rest, ":"):
			return host, rest[1:], nil
		}
		return "", "", fmt.Errorf("junk %q after ]", rest)
	}
	if strings.Count(a, ":") > 1 {
		return "", "", errors.New("an IPv6 address must be in brackets")
	}
	host, port, _ = strings.Cut(a, ":")
	if strings.Contains(a, ":") && port == "" {
		return "", "", errors.New("empty port")
	}
	return host, port, nil
}

func checkHost(h string) error {
	if h == "" {
		return errors.New("empty host")
	}
	if net.ParseIP(h) != nil {
		return nil
	}
	if len(h) > 253 {
		return errors.New("host name longer than 253 bytes")
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("host %q has an empty or over-long label", h)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
			if !ok {
				return fmt.Errorf("host %q has character %q", h, c)
			}
		}
	}
	return nil
}

// hostPort is host[:port] with IPv6 bracketed, the port only when not default.
func (u Upstream) hostPort() string {
	h := u.Host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	if u.Port != 0 && u.Port != DefaultRsyncPort {
		h += ":" + strconv.Itoa(u.Port)
	}
	return h
}

// String is the canonical form, rsync://[user@]host[:port]/module/[path/],
// always ending in "/" because the upstream is a directory whose contents
// are copied. ParseUpstream(u.String()) == u.
func (u Upstream) String() string {
	var b strings.Builder
	b.WriteString("rsync://")
	if u.User != "" {
		b.WriteString(u.User)
		b.WriteByte('@')
	}
	b.WriteString(u.hostPort())
	b.WriteByte('/')
	b.WriteString(u.Module)
	b.WriteByte('/')
	if u.Path != "" {
		b.WriteString(u.Path)
		b.WriteByte('/')
	}
	return b.String()
}

// Redacted is String without the user, for logs and traces that downstream
// mirrors read.
func (u Upstream) Redacted() string {
	u.User = ""
	return u.String()
}

// File is the rsync URL of a file below the upstream directory. rel is
// slash-separated and relative; it must not climb out (Job.Validate checks).
func (u Upstream) File(rel string) string {
	return u.String() + strings.TrimLeft(path.Clean("/"+rel), "/")
}
