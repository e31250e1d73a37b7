package release

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// Staged is a directory that is not world-readable yet.
type Staged struct {
	// Path is relative to the tree's root, slash-separated.
	Path string `json:"path"`
	// Mode is the directory's mode (e.g. drwxr-x---).
	Mode fs.FileMode `json:"mode"`
	// At is when its flip is scheduled; zero if it is not.
	At time.Time `json:"at,omitzero"`
}

// Report is what `mirrorkit release status` shows.
type Report struct {
	// Staged lists the top-most staged directories: one that is staged is
	// listed, what is inside it is not (it opens with it), in walk order.
	Staged []Staged `json:"staged"`
	// Scheduled lists the scheduled flips, earliest first, including those
	// whose path is already public or gone.
	Scheduled []Scheduled `json:"scheduled"`
}

// Status walks the tree at root (never following symlinks) for staged
// directories and reads the flips scheduled in stateDir ("" for none).
func Status(ctx context.Context, root, stateDir string) (Report, error) {
	var rep Report
	if stateDir != "" {
		var err error
		s := &Scheduler{Root: root, StateDir: stateDir}
		if rep.Scheduled, err = s.List(); err != nil {
			return rep, err
		}
	}
	at := map[string]time.Time{}
	for _, sc := range rep.Scheduled {
		at[sc.Path] = sc.At
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return rep, fmt.Errorf("release: open tree: %w", err)
	}
	defer r.Close()
	err = fs.WalkDir(r.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("release: status: %w", err)
		}
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("release: status interrupted: %w", cerr)
		}
		if !d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return fmt.Errorf("release: status: %w", err)
		}
		if Public(fi.Mode()) {
			return nil
		}
		rep.Staged = append(rep.Staged, Staged{Path: p, Mode: fi.Mode(), At: at[p]})
		return fs.SkipDir
	})
	return rep, err
}
