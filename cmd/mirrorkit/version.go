package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mirrorkit/mirrorkit/internal/buildinfo"
)

func (a *app) versionCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:         "version",
		Short:       "Print the version, commit and Go version",
		Args:        exactArgs(),
		Annotations: map[string]string{noConfig: "true"},
		RunE: func(*cobra.Command, []string) error {
			i := buildinfo.Get()
			if asJSON {
				return a.printJSON(i)
			}
			fmt.Fprintf(a.stdout, "mirrorkit %s (commit %s, %s, %s)\n", i.Version, i.Commit, i.GoVersion, i.Platform)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
