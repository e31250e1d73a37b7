package rsyncd

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// parsed is rsyncd.conf as rsync's parser (params.c) reads it: sections in
// order, each with its parameters in order. The global section is "".
type parsed struct {
	sections []string
	params   map[string][][2]string
}

// parseConf reads a configuration the way rsync does, and fails on the
// constructs a generated file must never contain: line continuations,
// &include/&merge directives, lines that are neither.
func parseConf(data []byte) (parsed, error) {
	p := parsed{sections: []string{""}, params: map[string][][2]string{}}
	cur := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		if strings.HasSuffix(raw, "\\") {
			return p, fmt.Errorf("line %d: continuation", n)
		}
		line := strings.TrimLeft(raw, " \t\r\v\f")
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			end := strings.IndexByte(line, ']')
			if end < 0 || strings.TrimSpace(line[end+1:]) != "" {
				return p, fmt.Errorf("line %d: bad section %q", n, raw)
			}
			cur = strings.TrimSpace(line[1:end])
			p.sections = append(p.sections, cur)
		case line[0] == '&':
			return p, fmt.Errorf("line %d: directive %q", n, raw)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return p, fmt.Errorf("line %d: not a parameter: %q", n, raw)
			}
			p.params[cur] = append(p.params[cur], [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
		}
	}
	return p, sc.Err()
}

// skeleton is the shape of a file: its sections and each one's keys.
func (p parsed) skeleton() string {
	var b strings.Builder
	for i, s := range p.sections {
		fmt.Fprintf(&b, "[%d]", i)
		for _, kv := range p.params[s] {
			b.WriteString(" " + kv[0])
		}
		b.WriteString("\n")
	}
	return b.String()
}

func (p parsed) value(section, key string) string {
	for _, kv := range p.params[section] {
		if kv[0] == key {
			return kv[1]
		}
	}
	return ""
}

// benign replaces a value accepted by Validate with a plain one of the
// same emptiness, to give the file the same shape without hostility.
func benign(s, plain string) string {
	if s == "" {
		return ""
	}
	return plain
}

func fuzzConfig(name, path, comment, word, uid, user, password, privName, logFile string) Config {
	c := Defaults(path, "/state", true)
	c.UID = uid
	c.LogFile = logFile
	c.Modules = []Module{{Name: name, Path: path, Comment: comment, Exclude: []string{word}}}
	c.DontCompress = []string{word}
	c.RefuseOptions = []string{word}
	c.Private = &Private{Name: privName, Path: path, Comment: comment, UID: "mirror", GID: "mirror",
		Users:      []User{{Name: user, Password: password}},
		HostsAllow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}
	return c
}

// FuzzGenerate asserts that no value accepted by Validate changes the shape
// of the generated file (an extra section or parameter, a continuation, a
// directive), that values come back from rsync's parser as they went in,
// and that passwords never reach rsyncd.conf.
func FuzzGenerate(f *testing.F) {
	f.Add("pub", "/srv/pub", "Public tree", "*.gz", "nobody", "tier2", "s3cret", "staged", "")
	f.Add("pub]\n[evil", "/srv/pub\n\tread only = no", "c\\", "checksum\nuid = root", "root\n", "a:b", "p\nx:y", "global", "/x\n&include /etc")
	f.Add("p", "/srv/%HOME%", " lead", "a b", "0", "u,v", " p", "s", "/log%")
	f.Add("m", "/srv/pub", "comment with = and [brackets] # and ;", "!*", "1000", "u", "pass#;[x]=y", "m2", "/var/log/r.log")
	f.Add("m", "/srv/p\u2028ub", "c\u0085d", "w", "x", "u", "p\u2029", "n", "")
	f.Fuzz(func(t *testing.T, name, path, comment, word, uid, user, password, privName, logFile string) {
		c := fuzzConfig(name, path, comment, word, uid, user, password, privName, logFile)
		out, err := Generate(c)
		if err != nil {
			return
		}
		got, err := parseConf(out)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		plain := fuzzConfig("m", "/p", benign(comment, "c"), "w", "u", "x", "y", "n", benign(logFile, "/l"))
		ref, err := Generate(plain)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := parseConf(ref)
		if got.skeleton() != want.skeleton() {
			t.Fatalf("hostile values changed the file's shape:\n%s\nwant:\n%s\nfile:\n%s", got.skeleton(), want.skeleton(), out)
		}
		if !slices.Equal(got.sections, []string{"", name, privName}) {
			t.Fatalf("sections %q", got.sections)
		}
		for key, v := range map[string]string{"path": path, "comment": comment, "uid": uid} {
			if g := got.value(name, key); g != v {
				t.Fatalf("%s: parsed %q, want %q", key, g, v)
			}
		}
		if g := got.value("", "log file"); g != c.logFile() {
			t.Fatalf("log file: parsed %q, want %q", g, logFile)
		}
		if g := got.value(privName, "auth users"); g != user {
			t.Fatalf("auth users: parsed %q, want %q", g, user)
		}
		if bytes.Contains(out, []byte("secrets file")) && strings.Contains(string(out), password) && len(password) > 3 &&
			!strings.Contains(strings.Join([]string{name, path, comment, word, uid, user, privName, logFile, "/state"}, "\n"), password) {
			t.Fatalf("password %q in rsyncd.conf", password)
		}
		// The secrets file has one "user:password" line per user.
		lines := strings.Split(strings.TrimSuffix(string(secrets(c.Private)), "\n"), "\n")
		if len(lines) != 1 {
			t.Fatalf("secrets file has %d lines", len(lines))
		}
		if u, p, _ := strings.Cut(lines[0], ":"); u != user || p != password {
			t.Fatalf("secrets line %q", lines[0])
		}
	})
}
