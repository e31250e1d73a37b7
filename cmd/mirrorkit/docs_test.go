package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// cronLine matches a cron.d line: five time fields and a user before the
// command.
var (
	cronLine = regexp.MustCompile(`^(\S+\s+){5}\S+\s+(/usr/local/bin/)?mirrorkit\s`)
	// placeholder is a synopsis word such as NAME or FILE.
	placeholder = regexp.MustCompile(`\b[A-Z]{3,}\b`)
)

// documentedCommands returns every mirrorkit command line the docs tell a
// user to paste: systemd ExecStart= lines, cron.d lines, and code-block
// lines that start with "mirrorkit ". Synopses with placeholders
// ("NAME", "[--json]", "a|b") are documentation of syntax, not commands,
// and are left out.
func documentedCommands(t *testing.T) map[string][]string {
	t.Helper()
	files, _ := filepath.Glob("../../docs/*.md")
	units, _ := filepath.Glob("../../docs/systemd/*")
	files = append(append(files, units...), "../../README.md")
	out := map[string][]string{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		inCode, n, pending := strings.HasPrefix(filepath.Dir(f), "../../docs/systemd"), 0, ""
		for sc.Scan() {
			n++
			line := strings.TrimSpace(sc.Text())
			if strings.HasPrefix(line, "```") {
				inCode = !inCode
				continue
			}
			if pending != "" {
				line, pending = pending+" "+line, ""
			}
			if strings.HasSuffix(line, `\`) {
				pending = strings.TrimSuffix(line, `\`)
				continue
			}
			cmd := ""
			switch {
			case strings.HasPrefix(line, "ExecStart="):
				cmd = strings.TrimPrefix(line, "ExecStart=")
			case inCode && cronLine.MatchString(line):
				cmd = line[strings.Index(line, "mirrorkit"):]
			case inCode && strings.HasPrefix(line, "mirrorkit "):
				cmd = line
			default:
				continue
			}
			if i := strings.Index(cmd, " #"); i >= 0 {
				cmd = cmd[:i]
			}
			if strings.ContainsAny(cmd, "[]|…<>") || placeholder.MatchString(cmd) {
				continue
			}
			fields := strings.Fields(strings.ReplaceAll(cmd, "%i", "fedora"))
			if !strings.HasSuffix(fields[0], "mirrorkit") {
				continue
			}
			out[filepath.Base(f)+":"+strconv.Itoa(n)] = fields[1:]
		}
		fh.Close()
	}
	return out
}

// Every command line the docs give parses: its command exists and every
// flag it uses exists and takes the value given. (--help stops short of
// running it.)
func TestDocumentedCommandsParse(t *testing.T) {
	cmds := documentedCommands(t)
	if len(cmds) < 10 {
		t.Fatalf("found only %d documented commands: %v", len(cmds), cmds)
	}
	// A bad flag fails even with --help: the check has teeth.
	if r := newCLI(t).run("sync", "--no-such-flag", "--help"); r.code == 0 {
		t.Fatal("an unknown flag with --help exits 0")
	}
	for where, args := range cmds {
		c := newCLI(t)
		if r := c.run(append(args, "--help")...); r.code != 0 || !strings.Contains(r.out, "Usage:") {
			t.Errorf("%s: mirrorkit %s: exit %d\n%s", where, strings.Join(args, " "), r.code, r.err)
		}
	}
	t.Logf("%d documented command lines parse", len(cmds))
	found := false
	for _, args := range cmds {
		if strings.Join(args, " ") == "--config /etc/mirrorkit/mirrorkit.toml sync --jitter 30m fedora" {
			found = true
		}
	}
	if !found {
		t.Error("the cron line of docs/sync.md was not among the commands checked")
	}
}
