package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/store"
	"github.com/mirrorkit/mirrorkit/internal/store/sqlite"
)

func (a *app) demoCommand() *cobra.Command {
	var keep string
	cmd := &cobra.Command{
		Use:   "demo [--keep DIR]",
		Short: "Build a sample mirror network on the embedded store and show it",
		Long: `Build a sample mirror network in an embedded SQLite store, the way a
publisher would register it: sites, a tier-0 master, tier-1 and tier-2 mirrors
across continents, a selective tier-3 mirror and a private mirror serving only
its own network. Then show the registry as 'mirror list' does.

Without --keep the store lives in a temporary directory that is removed at the
end; with --keep DIR it stays in DIR/mirrorkit.db for you to explore.`,
		Args:        exactArgs(),
		Annotations: map[string]string{noConfig: "true"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir := keep
			if dir == "" {
				tmp, err := os.MkdirTemp("", "mirrorkit-demo-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				dir = tmp
			} else if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			path := filepath.Join(dir, "mirrorkit.db")
			if _, err := os.Stat(path); err == nil {
				return usagef("%s already exists; give --keep an empty or new directory", path)
			}
			st, err := sqlite.Open(cmd.Context(), path, store.Options{Now: a.now})
			if err != nil {
				return err
			}
			a.st = st
			if err := buildDemoRegistry(cmd, st); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Sample mirror network registered in %s:\n\n", path)
			list := a.mirrorList()
			list.SetContext(cmd.Context())
			if err := list.RunE(list, nil); err != nil {
				return err
			}
			if keep == "" {
				fmt.Fprintf(a.stdout, "\nRun 'mirrorkit demo --keep DIR' to keep this registry and explore it.\n")
				return nil
			}
			db := "sqlite:" + path
			fmt.Fprintf(a.stdout, "\nExplore it:\n  mirrorkit --db %s mirror show ftp-de\n  mirrorkit --db %s site list\n  mirrorkit --db %s mirror list --json\n", db, db, db)
			return nil
		},
	}
	cmd.Flags().StringVar(&keep, "keep", "", "keep the sample store in DIR instead of a temporary directory")
	return cmd
}

// buildDemoRegistry registers a small network shaped like the seeds describe:
// a master (tier 0), tier-1 mirrors syncing from it, tier-2 mirrors syncing
// from those, a selective mirror and a private one.
func buildDemoRegistry(cmd *cobra.Command, st store.Store) error {
	ctx := cmd.Context()
	sites := []registry.Site{
		{Name: "example-project", Sponsor: "Example Project", SponsorURL: "https://www.example.org/", Contacts: []string{"infra@example.org"}},
		{Name: "uni-frankfurt", Sponsor: "Example University Frankfurt", SponsorURL: "https://www.example.edu/", Contacts: []string{"mirror@example.edu"}},
		{Name: "east-isp", Sponsor: "East Coast Example ISP", SponsorURL: "https://isp.example.net/", Contacts: []string{"noc@example.net"}},
		{Name: "pacific-net", Sponsor: "Pacific Example Network", SponsorURL: "https://pacific.example.com/", Contacts: []string{"ops@example.com"}},
		{Name: "acme-corp", Sponsor: "ACME Example Corp", PrivateNotes: "internal mirror; reports its own content"},
	}
	for _, s := range sites {
		if _, err := st.CreateSite(ctx, s); err != nil {
			return err
		}
	}
	type spec struct {
		name, site, cc, city, upstream string
		tier                           int
		lat, lon                       float64
		mbps                           int64
		urls                           registry.URLs
		content, netblocks             []string
		asns                           []uint32
		private, ipv6                  bool
	}
	urls := func(host string, https, ftp bool) registry.URLs {
		u := registry.URLs{HTTP: "http://" + host + "/pub/", Rsync: "rsync://" + host + "/pub/"}
		if https {
			u.HTTPS = "https://" + host + "/pub/"
		}
		if ftp {
			u.FTP = "ftp://" + host + "/pub/"
		}
		return u
	}
	specs := []spec{
		{name: "master", site: "example-project", cc: "NL", city: "Amsterdam", tier: 0, lat: 52.37, lon: 4.90, mbps: 40000,
			urls: registry.URLs{Rsync: "rsync://master.example.org/pub/"}},
		{name: "ftp-de", site: "uni-frankfurt", cc: "DE", city: "Frankfurt", upstream: "master", tier: 1, lat: 50.1, lon: 8.7, mbps: 10000,
			urls: urls("ftp.example.edu", true, true), netblocks: []string{"192.0.2.0/24"}, asns: []uint32{64500}, ipv6: true},
		{name: "us-east", site: "east-isp", cc: "US", city: "Ashburn", upstream: "master", tier: 1, lat: 39.04, lon: -77.49, mbps: 20000,
			urls: urls("mirror.example.net", true, false), ipv6: true},
		{name: "nz-akl", site: "pacific-net", cc: "NZ", city: "Auckland", upstream: "ftp-de", tier: 2, lat: -36.85, lon: 174.76, mbps: 1000,
			urls: urls("nz.example.com", true, false)},
		{name: "jp-tyo", site: "pacific-net", cc: "JP", city: "Tokyo", upstream: "us-east", tier: 3, lat: 35.68, lon: 139.69, mbps: 2000,
			urls: urls("jp.example.com", true, false), content: []string{"/releases/"}},
		{name: "acme-internal", site: "acme-corp", cc: "BR", city: "São Paulo", upstream: "ftp-de", tier: 2, lat: -23.55, lon: -46.63, mbps: 1000,
			urls: registry.URLs{HTTP: "http://mirror.acme.example/pub/"}, netblocks: []string{"198.51.100.0/24"}, asns: []uint32{64501}, private: true},
	}
	for _, s := range specs {
		m := registry.NewMirror(s.name, s.site)
		m.URLs, m.Tier, m.Upstream = s.urls, s.tier, s.upstream
		lat, lon := s.lat, s.lon
		m.Location = registry.Location{Country: s.cc, City: s.city, Latitude: &lat, Longitude: &lon}
		m.BandwidthMbps, m.Content, m.Netblocks, m.ASNs = s.mbps, s.content, s.netblocks, s.asns
		m.Public, m.IPv6 = !s.private, s.ipv6
		_, hash, err := registry.NewReportToken()
		if err != nil {
			return err
		}
		m.TokenHash = hash
		if _, err := st.CreateMirror(ctx, m); err != nil {
			return fmt.Errorf("demo mirror %s: %w", s.name, err)
		}
	}
	return nil
}
