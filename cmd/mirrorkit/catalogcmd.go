package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/mirrorkit/mirrorkit/internal/catalog"
	"github.com/mirrorkit/mirrorkit/internal/scan"
	"github.com/mirrorkit/mirrorkit/internal/scan/rsyncscan"
	"github.com/mirrorkit/mirrorkit/internal/store"
)

func (a *app) catalogCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "catalog",
		Short: "Index the origin tree: the files mirrors must hold",
		Long: `The catalog is the origin's file list: path, size, mtime, type, mode, symlink
target, hardlink group, staged state (not world-readable) and content hashes.
Scans compare every mirror against it; the redirector sends clients only to
mirrors holding the catalog's version of a file.`,
	}
	cmd.AddCommand(a.catalogBuild(), a.catalogShow(), a.catalogDiff())
	return cmd
}

// buildCatalog indexes the origin with the stored catalog as hash cache.
func (a *app) buildCatalog(ctx context.Context, st store.Store, origin string) (old, entries []catalog.Entry, stats catalog.Stats, err error) {
	if origin == "" {
		return nil, nil, stats, usagef("no origin: set catalog.origin in the config or pass --origin DIR")
	}
	ex, err := catalog.ParseExcludes(a.cfg.Catalog.Exclude)
	if err != nil {
		return nil, nil, stats, err
	}
	if old, err = st.CatalogEntries(ctx); err != nil {
		return nil, nil, stats, err
	}
	prev := make(map[string]*catalog.Entry, len(old))
	for i := range old {
		prev[old[i].Path] = &old[i]
	}
	opts := catalog.Options{Excludes: ex, PieceSize: int64(a.cfg.Catalog.PieceSize), Workers: a.cfg.Catalog.Workers, Previous: prev}
	for _, h := range a.cfg.Catalog.Hashes {
		opts.Algorithms = append(opts.Algorithms, catalog.Algorithm(h))
	}
	if strings.HasPrefix(origin, "rsync://") {
		entries, err = a.remoteCatalog(ctx, origin, ex)
		return old, entries, catalog.Stats{Files: countType(entries, scan.File), Dirs: countType(entries, scan.Dir),
			Symlinks: countType(entries, scan.Symlink)}, err
	}
	var bar *progressbar.ProgressBar
	opts.Progress = func(p catalog.Progress) {
		if bar == nil {
			if bar = a.progressBar(p.TotalBytes, fmt.Sprintf("hashing %d files", p.TotalFiles), true); bar == nil {
				opts.Progress = nil
				return
			}
		}
		_ = bar.Set64(p.Bytes)
	}
	entries, stats, err = catalog.Build(ctx, origin, opts)
	if bar != nil {
		_ = bar.Finish()
	}
	return old, entries, stats, err
}

// remoteCatalog lists an origin on another machine over rsync. A listing has
// no content: such a catalog has no hashes (and so no metalink hashes), and
// no hardlink groups.
func (a *app) remoteCatalog(ctx context.Context, origin string, ex catalog.Excludes) ([]catalog.Entry, error) {
	var listing []scan.Entry
	sc := rsyncscan.New(rsyncscan.Options{Timeout: time.Duration(a.cfg.Scan.IOTimeout)})
	err := sc.Scan(ctx, scan.Target{URL: origin, Password: a.getenv("RSYNC_PASSWORD")}, func(e scan.Entry) error {
		listing = append(listing, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list origin %s: %w", origin, err)
	}
	return catalog.FromListing(listing, ex), nil
}

// rebuildCatalog builds and stores the catalog, returning the recorded build.
func (a *app) rebuildCatalog(ctx context.Context, st store.Store, origin string) (store.CatalogBuild, catalog.Stats, error) {
	started := time.Now()
	_, entries, stats, err := a.buildCatalog(ctx, st, origin)
	if err != nil {
		return store.CatalogBuild{}, stats, err
	}
	b := store.CatalogBuild{Origin: origin, StartedAt: started, FinishedAt: time.Now(), Files: stats.Files, Dirs: stats.Dirs,
		Symlinks: stats.Symlinks, Staged: stats.Staged, Bytes: stats.Bytes, Hashed: stats.Hashed, Cached: stats.Cached}
	if _, err := st.SaveCatalog(ctx, entries, &b); err != nil {
		return b, stats, err
	}
	a.log.Debug("catalog built", "origin", origin, "files", b.Files, "bytes", b.Bytes, "hashed", b.Hashed,
		"cached", b.Cached, "added", b.Added, "changed", b.Changed, "removed", b.Removed, "duration", stats.Duration)
	return b, stats, nil
}

func countType(es []catalog.Entry, t scan.Type) int {
	n := 0
	for _, e := range es {
		if e.Type == t {
			n++
		}
	}
	return n
}

func (a *app) catalogBuild() *cobra.Command {
	var origin string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "build [--origin DIR]",
		Short: "Index the origin tree and store the catalog",
		Long: `Walk the origin, hash new and changed files (unchanged ones keep their hashes),
and store the result. Prints what changed since the last build.`,
		Args: exactArgs(),
		RunE: a.withStore(func(cmd *cobra.Command, st store.Store, _ []string) error {
			if !cmd.Flags().Changed("origin") {
				origin = a.cfg.Catalog.Origin
			}
			b, stats, err := a.rebuildCatalog(cmd.Context(), st, origin)
			if err != nil {
				return err
			}
			return a.emit(asJSON, b, "catalog of %s: %d files (%s), %d directories, %d symlinks, %d staged\n"+
				"hashed %d files (%s), reused %d cached hashes; %d added, %d changed, %d removed; %s",
				origin, b.Files, humanize.IBytes(uint64(b.Bytes)), b.Dirs, b.Symlinks, b.Staged,
				b.Hashed, humanize.IBytes(uint64(stats.HashedBytes)), b.Cached, b.Added, b.Changed, b.Removed,
				stats.Duration.Round(time.Millisecond))
		}),
	}
	cmd.Flags().StringVar(&origin, "origin", "", "the origin: a directory, or rsync://HOST/MODULE/ (config catalog.origin)")
	jsonFlag(cmd, &asJSON, "the build record")
	return cmd
}

func (a *app) catalogShow() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show PATH",
		Short: "Show one catalog entry",
		Args:  exactArgs("PATH"),
		RunE: a.withStore(func(cmd *cobra.Command, st store.Store, args []string) error {
			entries, err := st.CatalogEntries(cmd.Context())
			if err != nil {
				return err
			}
			p := args[0]
			if p == "" || p[0] != '/' {
				p = "/" + p
			}
			for _, e := range entries {
				if e.Path != p {
					continue
				}
				if asJSON {
					return a.printJSON(e)
				}
				return a.fields(catalogFields(e))
			}
			return fmt.Errorf("catalog entry %q: %w", p, store.ErrNotFound)
		}),
	}
	jsonFlag(cmd, &asJSON, "the entry")
	return cmd
}

func catalogFields(e catalog.Entry) [][2]string {
	out := [][2]string{{"path", strconv.Quote(e.Path)}, {"id", strconv.FormatUint(uint64(e.ID), 10)}, {"type", e.Type.String()},
		{"size", fmt.Sprintf("%d (%s)", e.Size, humanize.IBytes(uint64(max(0, e.Size))))},
		{"mtime", e.ModTime.Format(time.RFC3339Nano)}, {"mode", e.Mode.String()}, {"staged", yesNo(e.Staged)}}
	if e.Target != "" {
		out = append(out, [2]string{"target", e.Target})
	}
	if e.LinkGroup != "" {
		out = append(out, [2]string{"hardlink group", e.LinkGroup})
	}
	for _, h := range [][2]string{{"sha256", e.SHA256}, {"sha1", e.SHA1}, {"md5", e.MD5}, {"sha512", e.SHA512}} {
		if h[1] != "" {
			out = append(out, h)
		}
	}
	if e.PieceSize > 0 {
		out = append(out, [2]string{"pieces", fmt.Sprintf("%d of %s", len(e.Pieces)/32, humanize.IBytes(uint64(e.PieceSize)))})
	}
	return out
}

func (a *app) catalogDiff() *cobra.Command {
	var origin string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "diff [--origin DIR]",
		Short: "Show what changed in the origin since the last build, without storing anything",
		Args:  exactArgs(),
		RunE: a.withStore(func(cmd *cobra.Command, st store.Store, _ []string) error {
			if !cmd.Flags().Changed("origin") {
				origin = a.cfg.Catalog.Origin
			}
			old, entries, _, err := a.buildCatalog(cmd.Context(), st, origin)
			if err != nil {
				return err
			}
			changes := catalog.Diff(old, entries)
			if asJSON {
				if changes == nil {
					changes = []catalog.Change{}
				}
				return a.printJSON(changes)
			}
			rows := make([][]string, 0, len(changes))
			for _, c := range changes {
				rows = append(rows, []string{c.Kind, strconv.Quote(c.Path()), describeChange(c)})
			}
			return a.table([]string{"change", "path", "detail"}, rows)
		}),
	}
	cmd.Flags().StringVar(&origin, "origin", "", "the origin directory (config catalog.origin)")
	jsonFlag(cmd, &asJSON, "the changes")
	return cmd
}

func describeChange(c catalog.Change) string {
	switch {
	case c.Old == nil:
		return fmt.Sprintf("%s, %d bytes", c.New.Type, c.New.Size)
	case c.New == nil:
		return c.Old.Type.String()
	}
	o, n := c.Old, c.New
	var d []string
	if o.Type != n.Type {
		d = append(d, fmt.Sprintf("type %s → %s", o.Type, n.Type))
	}
	if o.Size != n.Size {
		d = append(d, fmt.Sprintf("size %d → %d", o.Size, n.Size))
	}
	if !o.ModTime.Equal(n.ModTime) {
		d = append(d, "mtime "+n.ModTime.Format(time.RFC3339))
	}
	if o.Mode != n.Mode {
		d = append(d, fmt.Sprintf("mode %s → %s", o.Mode, n.Mode))
	}
	if o.Staged != n.Staged {
		d = append(d, map[bool]string{true: "now staged", false: "released (bit flip)"}[n.Staged])
	}
	if o.Target != n.Target {
		d = append(d, fmt.Sprintf("target %q → %q", o.Target, n.Target))
	}
	if len(d) == 0 {
		d = append(d, "content")
	}
	return strings.Join(d, ", ")
}
