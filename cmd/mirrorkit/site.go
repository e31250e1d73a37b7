package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/store"
)

type site = registry.Site

func siteFlags() []fieldFlag[site] {
	return []fieldFlag[site]{
		stringFlag("sponsor", "name of the organisation that runs or sponsors the site (shown publicly)",
			func(s *site) string { return s.Sponsor }, func(s *site, v string) { s.Sponsor = v }),
		stringFlag("sponsor-url", "the sponsor's web page (http or https; shown publicly)",
			func(s *site) string { return s.SponsorURL }, func(s *site, v string) { s.SponsorURL = v }),
		listFlag("contact", "admin contact e-mail; repeat or comma-separate; replaces the list (private)",
			func(s *site, v []string) error { s.Contacts = v; return nil }),
		stringFlag("notes", "private notes for the network's admins; never shown publicly",
			func(s *site) string { return s.PrivateNotes }, func(s *site, v string) { s.PrivateNotes = v }),
	}
}

func (a *app) siteCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "site",
		Short: "Manage sites: the organisations that run mirrors",
		Long: `A site is an organisation that runs one or more mirrors: a university, an
ISP, a company. Its sponsor name and URL are public; its contacts and notes
are for the network's admins only.`,
	}
	cmd.AddCommand(a.siteAdd(), a.siteList(), showCommand(a, "site", store.Store.Site, siteFields, nil), a.siteEdit(), removeCommand(a, "site", "Remove a site that has no mirrors left", store.Store.DeleteSite))
	return cmd
}

func (a *app) siteAdd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "add NAME",
		Short:   "Register a site",
		Example: `  mirrorkit site add example-org --sponsor "Example University" --sponsor-url https://www.example.org/ --contact mirror@example.org`,
		Args:    exactArgs("NAME"),
		RunE: a.withStore(func(cmd *cobra.Command, st store.Store, args []string) error {
			s := site{Name: args[0]}
			if err := applyAll(cmd.Flags(), siteFlags(), &s); err != nil {
				return err
			}
			s, err := st.CreateSite(cmd.Context(), s)
			if err != nil {
				return fmt.Errorf("site %q not added: %w", args[0], err)
			}
			return a.emit(asJSON, s, "added site %s (id %d)", s.Name, s.ID)
		}),
	}
	defineAll(cmd.Flags(), siteFlags(), &site{})
	jsonFlag(cmd, &asJSON, "the new site")
	return cmd
}

func (a *app) siteList() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List sites",
		Args:  exactArgs(),
		RunE: a.withStore(func(cmd *cobra.Command, st store.Store, _ []string) error {
			sites, err := st.Sites(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(sites)
			}
			mirrors, err := st.Mirrors(cmd.Context())
			if err != nil {
				return err
			}
			count := map[string]int{}
			for _, m := range mirrors {
				count[m.Site]++
			}
			rows := make([][]string, 0, len(sites))
			for _, s := range sites {
				rows = append(rows, []string{s.Name, dash(s.Sponsor), strconv.Itoa(count[s.Name]), dash(strings.Join(s.Contacts, ", "))})
			}
			return a.table([]string{"name", "sponsor", "mirrors", "contacts"}, rows)
		}),
	}
	jsonFlag(cmd, &asJSON, "an array")
	return cmd
}

func siteFields(s site) [][2]string {
	return [][2]string{
		{"name", s.Name}, {"id", strconv.FormatInt(s.ID, 10)},
		{"sponsor", dash(s.Sponsor)}, {"sponsor url", dash(s.SponsorURL)},
		{"contacts", dash(strings.Join(s.Contacts, ", "))},
		{"private notes", dash(indentMore(s.PrivateNotes))},
		{"created", s.CreatedAt.Format(timeLayout)}, {"updated", s.UpdatedAt.Format(timeLayout)},
	}
}

func (a *app) siteEdit() *cobra.Command {
	var rename string
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "edit NAME",
		Short:   "Change a site's fields; only the flags given change",
		Example: `  mirrorkit site edit example-org --sponsor "Example University Computing Centre" --contact noc@example.org`,
		Args:    exactArgs("NAME"),
		RunE: a.withStore(func(cmd *cobra.Command, st store.Store, args []string) error {
			s, err := st.Site(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if err := applyAll(cmd.Flags(), siteFlags(), &s); err != nil {
				return err
			}
			if cmd.Flags().Changed("rename") {
				s.Name = rename
			}
			if s, err = st.UpdateSite(cmd.Context(), s); err != nil {
				return fmt.Errorf("site %q not changed: %w", args[0], err)
			}
			return a.emit(asJSON, s, "changed site %s", s.Name)
		}),
	}
	defineAll(cmd.Flags(), siteFlags(), &site{})
	cmd.Flags().StringVar(&rename, "rename", "", "give the site a new name (its mirrors follow)")
	jsonFlag(cmd, &asJSON, "the changed site")
	return cmd
}

const timeLayout = "2006-01-02 15:04:05 UTC"

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// indentMore keeps multi-line notes inside the value column of `show`.
func indentMore(s string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n\t")
}
