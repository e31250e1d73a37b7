package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ErrNotInstalled is wrapped by errors that mean the PostgreSQL server
// package is absent, as opposed to a server that failed to start; callers
// use it to decide between skipping and failing.
var ErrNotInstalled = errors.New("pgtest: PostgreSQL server not installed (apt-get install postgresql)")

// debianBinGlob is where Debian's postgresql-NN packages put the server
// programs; only a few client wrappers go on PATH.
const debianBinGlob = "/usr/lib/postgresql/*/bin"

type binaries struct {
	initdb, pgCtl, postgres string
}

var binaryNames = []string{"initdb", "pg_ctl", "postgres"}

func findBinaries(debianGlob string) (binaries, error) {
	var found [3]string
	var missing []string
	for i, name := range binaryNames {
		p, err := exec.LookPath(name)
		if err != nil {
			missing = append(missing, name)
			continue
		}
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		found[i] = p
	}
	if len(missing) == 0 {
		return binaries{found[0], found[1], found[2]}, nil
	}

	// Programs are taken from one directory so that initdb, pg_ctl and
	// postgres are of the same major version: initdb refuses a mismatch.
	dirs, _ := filepath.Glob(debianGlob)
	sortByVersionDesc(dirs)
	for _, dir := range dirs {
		ok := true
		for _, name := range binaryNames {
			if !isExecutable(filepath.Join(dir, name)) {
				ok = false
				break
			}
		}
		if ok {
			return binaries{
				initdb:   filepath.Join(dir, "initdb"),
				pgCtl:    filepath.Join(dir, "pg_ctl"),
				postgres: filepath.Join(dir, "postgres"),
			}, nil
		}
	}
	return binaries{}, fmt.Errorf("%w: %s not found on PATH, and no %s holds all of %s",
		ErrNotInstalled, strings.Join(missing, ", "), debianGlob, strings.Join(binaryNames, ", "))
}

// sortByVersionDesc orders .../NN/bin directories newest first; a plain
// string sort would put 9.6 above 15.
func sortByVersionDesc(dirs []string) {
	version := func(dir string) []int {
		var v []int
		for _, f := range strings.Split(filepath.Base(filepath.Dir(dir)), ".") {
			n, err := strconv.Atoi(f)
			if err != nil {
				return nil
			}
			v = append(v, n)
		}
		return v
	}
	sort.SliceStable(dirs, func(i, j int) bool {
		a, b := version(dirs[i]), version(dirs[j])
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] != b[k] {
				return a[k] > b[k]
			}
		}
		return len(a) > len(b)
	})
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
