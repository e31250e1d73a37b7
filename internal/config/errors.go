package config

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// Problem is one thing wrong with the configuration.
type Problem struct {
	// Source is a file name, an environment variable, a flag, or "default".
	Source string
	// Line in the file; 0 when unknown or not from a file.
	Line int
	// Key is "section.key" when known.
	Key string
	Msg string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Source)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Key != "" && p.Key != p.Source {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error lists every problem found, one per line.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return "invalid configuration:\n  " + strings.Join(lines, "\n  ")
}

func (e *Error) add(source, key, msg string) {
	e.Problems = append(e.Problems, Problem{Source: source, Key: key, Msg: msg})
}

// keyLines maps each "table.key" to the line that sets it, for messages about
// values the TOML parser accepted but mirrorkit does not (unknown keys, values
// out of range): the parser keeps no positions for those. It understands what
// people write in config files (tables, dotted and quoted keys); a key it cannot
// place simply gets no line number.
func keyLines(data []byte) map[string]int {
	out := map[string]int{}
	table := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#':
		case line[0] == '[':
			name := strings.Trim(line, "[]")
			if i := strings.IndexByte(name, '#'); i >= 0 {
				name = strings.Trim(strings.TrimSpace(name[:i]), "[]")
			}
			table = joinKey(splitKey(name))
			if _, seen := out[table]; !seen {
				out[table] = n
			}
		default:
			lhs, _, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			key := joinKey(splitKey(lhs))
			if table != "" {
				key = table + "." + key
			}
			if _, seen := out[key]; !seen {
				out[key] = n
			}
		}
	}
	return out
}

// splitKey splits a TOML key on dots outside quotes and unquotes the parts.
func splitKey(s string) []string {
	var parts []string
	var cur strings.Builder
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(c)
		case c == '"' || c == '\'':
			quote = c
		case c == '.':
			parts = append(parts, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, strings.TrimSpace(cur.String()))
}

func joinKey(parts []string) string { return strings.Join(parts, ".") }
