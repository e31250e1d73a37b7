package schedule

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// ReadPasswords reads a passwords file: "MIRROR PASSWORD" per line, blank
// lines and # comments allowed. Like rsync's strict modes, a file that group
// or others can read is refused: it holds logins to other people's servers.
func ReadPasswords(path string) (map[string]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("passwords file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("passwords file %s has mode %v: it must not be readable by group or others (chmod 600)", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("passwords file: %w", err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, pw, ok := strings.Cut(line, " ")
		pw = strings.TrimSpace(pw)
		if !ok || name == "" || pw == "" {
			return nil, fmt.Errorf("passwords file %s line %d: want \"MIRROR PASSWORD\"", path, n)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("passwords file %s line %d: mirror %q given twice", path, n, name)
		}
		out[name] = pw
	}
	return out, sc.Err()
}
