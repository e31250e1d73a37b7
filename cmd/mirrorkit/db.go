package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mirrorkit/mirrorkit/internal/store"
	"github.com/mirrorkit/mirrorkit/internal/store/backend"
)

func (a *app) dbCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Manage the store's schema",
		Long: `Every command applies pending schema migrations when it opens the store;
'db migrate' does only that, for deployments that migrate in a separate step.`,
	}
	cmd.AddCommand(a.dbMigrate(), a.dbStatus())
	return cmd
}

func (a *app) dbMigrate() *cobra.Command {
	return &cobra.Command{
		Use:    "migrate",
		Short:  "Apply pending schema migrations",
		Args:   exactArgs(),
		PreRun: func(*cobra.Command, []string) { a.noMigrate = true },
		RunE: a.withStore(func(cmd *cobra.Command, st store.Store, _ []string) error {
			n, err := st.Migrate(cmd.Context())
			if err != nil {
				return err
			}
			cur, _, err := st.SchemaVersion(cmd.Context())
			if err != nil {
				return err
			}
			return a.emit(false, nil, "applied %d migration(s); %s schema is at version %d", n, st.Backend(), cur)
		}),
	}
}

type dbStatus struct {
	Backend string `json:"backend"`
	DSN     string `json:"dsn"`
	Current int64  `json:"schema_version"`
	Latest  int64  `json:"latest_version"`
	Pending int64  `json:"pending"`
}

func (a *app) dbStatus() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:    "status",
		Short:  "Show the store's backend and schema version, without migrating",
		Args:   exactArgs(),
		PreRun: func(*cobra.Command, []string) { a.noMigrate = true },
		RunE: a.withStore(func(cmd *cobra.Command, st store.Store, _ []string) error {
			cur, latest, err := st.SchemaVersion(cmd.Context())
			if err != nil {
				return err
			}
			s := dbStatus{Backend: st.Backend(), DSN: backend.Redact(a.cfg.Store.DSN), Current: cur, Latest: latest, Pending: latest - cur}
			if asJSON {
				return a.printJSON(s)
			}
			return a.fields([][2]string{{"backend", s.Backend}, {"dsn", s.DSN},
				{"schema version", fmt.Sprintf("%d of %d (%d pending)", s.Current, s.Latest, s.Pending)}})
		}),
	}
	jsonFlag(cmd, &asJSON, "the status")
	return cmd
}
