package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/store"
)

func (a *app) registryCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Move a whole registry between stores",
		Long: `Export and import the whole registry (sites and mirrors with every field,
private notes and report-token hashes included) as one JSON document. Ids and
timestamps are kept, so moving from SQLite to PostgreSQL is lossless:

  mirrorkit --db sqlite:mirrorkit.db registry export reg.json
  mirrorkit --db postgres://mirrorkit@db.example.org/mirrorkit registry import reg.json

The export holds private data: keep it like the database itself.`,
	}
	cmd.AddCommand(a.registryExport(), a.registryImport())
	return cmd
}

func (a *app) registryExport() *cobra.Command {
	return &cobra.Command{
		Use:   "export [FILE]",
		Short: "Write the registry as JSON to FILE (mode 0600) or standard output",
		Args:  cobra.MaximumNArgs(1),
		RunE: a.withStore(func(cmd *cobra.Command, st store.Store, args []string) error {
			snap, err := st.Export(cmd.Context())
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := snap.WriteJSON(&buf); err != nil {
				return err
			}
			if len(args) == 0 || args[0] == "-" {
				_, err := a.stdout.Write(buf.Bytes())
				return err
			}
			return writeFileAtomic(args[0], buf.Bytes(), 0o600)
		}),
	}
}

func (a *app) registryImport() *cobra.Command {
	var replace bool
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Load a registry exported with 'registry export' (FILE - reads standard input)",
		Long: `Load a registry export into the store in one transaction. The whole file is
checked first (format, every field, references between mirrors); on any problem
nothing is written. An existing registry is only overwritten with --replace.`,
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader = a.stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			snap, err := registry.ReadSnapshot(r)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			// Opened only now: a bad file must not even create an empty database.
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			if err := st.Import(cmd.Context(), snap, replace); err != nil {
				return fmt.Errorf("nothing imported: %w", err)
			}
			return a.emit(false, nil, "imported %d site(s) and %d mirror(s) into %s", len(snap.Sites), len(snap.Mirrors), st.Backend())
		},
	}
	cmd.Flags().BoolVar(&replace, "replace", false, "drop the existing registry first (in the same transaction)")
	return cmd
}

// writeFileAtomic writes through a temporary file and a rename, so a reader (or a
// crash) never sees half a file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
