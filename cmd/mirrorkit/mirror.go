package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/store"
)

type mirror = registry.Mirror

func mirrorFlags() []fieldFlag[mirror] {
	url := func(p registry.Protocol, example string) fieldFlag[mirror] {
		return stringFlag(string(p), fmt.Sprintf("base URL for %s downloads, e.g. %s (\"\" removes it)", p, example),
			func(m *mirror) string { return m.URLs.Get(p) }, func(m *mirror, v string) { m.URLs.Set(p, v) })
	}
	countries := func(set func(*mirror, []string)) func(*mirror, []string) error {
		return func(m *mirror, v []string) error { set(m, v); return nil }
	}
	return []fieldFlag[mirror]{
		stringFlag("site", "the site that runs the mirror (see 'mirrorkit site')",
			func(m *mirror) string { return m.Site }, func(m *mirror, v string) { m.Site = v }),
		url(registry.HTTP, "http://mirror.example.org/pub/"),
		url(registry.HTTPS, "https://mirror.example.org/pub/"),
		url(registry.FTP, "ftp://mirror.example.org/pub/"),
		url(registry.RSYNC, "rsync://mirror.example.org/pub/"),
		intFlag("tier", "0 origin, 1 syncs from the origin, 2 syncs from a tier 1, 3 selective",
			func(m *mirror) int64 { return int64(m.Tier) }, func(m *mirror, v int64) { m.Tier = int(v) }),
		stringFlag("upstream", "the mirror this one syncs from, on a lower tier (\"\" is the origin)",
			func(m *mirror) string { return m.Upstream }, func(m *mirror, v string) { m.Upstream = v }),
		stringFlag("country", "ISO 3166-1 alpha-2 country code, e.g. DE",
			func(m *mirror) string { return m.Location.Country }, func(m *mirror, v string) { m.Location.Country = v }),
		stringFlag("continent", "AF AN AS EU NA OC SA (default: the country's)",
			func(m *mirror) string { return m.Location.Continent }, func(m *mirror, v string) { m.Location.Continent = v }),
		stringFlag("city", "city, for people reading the mirror list",
			func(m *mirror) string { return m.Location.City }, func(m *mirror, v string) { m.Location.City = v }),
		textFlag("lat", `latitude in degrees, -90..90 ("" clears)`,
			func(m *mirror, v string) (err error) { m.Location.Latitude, err = optionalFloat(v); return err }),
		textFlag("lon", `longitude in degrees, -180..180 ("" clears)`,
			func(m *mirror, v string) (err error) { m.Location.Longitude, err = optionalFloat(v); return err }),
		intFlag("bandwidth", "uplink bandwidth in Mbit/s",
			func(m *mirror) int64 { return m.BandwidthMbps }, func(m *mirror, v int64) { m.BandwidthMbps = v }),
		intFlag("score", "weight among equally good mirrors: twice the score, twice the share",
			func(m *mirror) int64 { return int64(m.Score) }, func(m *mirror, v int64) { m.Score = int(v) }),
		boolFlag("enabled", "the mirror gets redirects (see also 'mirror enable/disable')",
			func(m *mirror) bool { return m.Enabled }, func(m *mirror, v bool) { m.Enabled = v }),
		boolFlag("private", "never listed; serves only clients in its own netblocks and ASNs",
			func(m *mirror) bool { return !m.Public }, func(m *mirror, v bool) { m.Public = !v }),
		boolFlag("large-files", "can serve files over 2 GiB",
			func(m *mirror) bool { return m.LargeFiles }, func(m *mirror, v bool) { m.LargeFiles = v }),
		boolFlag("ipv4", "reachable over IPv4",
			func(m *mirror) bool { return m.IPv4 }, func(m *mirror, v bool) { m.IPv4 = v }),
		boolFlag("ipv6", "reachable over IPv6",
			func(m *mirror) bool { return m.IPv6 }, func(m *mirror, v bool) { m.IPv6 = v }),
		textFlag("max-file-size", `largest file the mirror serves, e.g. 4GiB ("0": no limit)`,
			func(m *mirror, v string) (err error) { m.MaxFileSize, err = parseSize(v); return err }),
		listFlag("content", `path prefixes the mirror carries, e.g. /fedora/,/epel/ ("" is the whole tree)`,
			func(m *mirror, v []string) error { m.Content = v; return nil }),
		listFlag("netblock", "CIDR whose clients this mirror serves first; repeat or comma-separate; replaces the list",
			func(m *mirror, v []string) error { m.Netblocks = v; return nil }),
		listFlag("asn", "AS number (64500 or AS64500) whose clients this mirror serves first; replaces the list",
			func(m *mirror, v []string) error {
				m.ASNs = make([]uint32, 0, len(v))
				for _, s := range v {
					n, err := parseASN(s)
					if err != nil {
						return err
					}
					m.ASNs = append(m.ASNs, n)
				}
				return nil
			}),
		boolFlag("country-only", "serve only clients in the mirror's country (and --extra-country)",
			func(m *mirror) bool { return m.Rules.CountryOnly }, func(m *mirror, v bool) { m.Rules.CountryOnly = v }),
		boolFlag("continent-only", "serve only clients on the mirror's continent",
			func(m *mirror) bool { return m.Rules.ContinentOnly }, func(m *mirror, v bool) { m.Rules.ContinentOnly = v }),
		boolFlag("asn-only", "serve only clients in the mirror's ASNs",
			func(m *mirror) bool { return m.Rules.ASNOnly }, func(m *mirror, v bool) { m.Rules.ASNOnly = v }),
		listFlag("exclude-country", "country codes that never get this mirror; replaces the list",
			countries(func(m *mirror, v []string) { m.Rules.ExcludeCountries = v })),
		listFlag("extra-country", "country codes that count as the mirror's own; replaces the list",
			countries(func(m *mirror, v []string) { m.Rules.ExtraCountries = v })),
		stringFlag("notes", "private notes for the network's admins; never shown publicly",
			func(m *mirror) string { return m.PrivateNotes }, func(m *mirror, v string) { m.PrivateNotes = v }),
	}
}

func (a *app) mirrorCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mirror",
		Short: "Manage mirrors: the hosts that serve copies of the origin",
		Long: `A mirror is one host serving a copy, or part of a copy, of the origin. It
belongs to a site, offers base URLs per protocol, sits on a tier, stands in a
country, and may restrict which clients it serves.`,
	}
	cmd.AddCommand(a.mirrorAdd(), a.mirrorList(), showCommand(a, "mirror", store.Store.Mirror, mirrorFields, a.recentScans), a.mirrorEdit(),
		a.mirrorEnable(true), a.mirrorEnable(false), removeCommand(a, "mirror", "Remove a mirror from the registry", store.Store.DeleteMirror), a.mirrorRotateToken(), a.mirrorScan(), a.mirrorScans())
	return cmd
}

// addedMirror is `mirror add --json` and `mirror rotate-token --json`: the one
// time the report token is shown.
type addedMirror struct {
	Mirror      mirror `json:"mirror"`
	ReportToken string `json:"report_token"`
}

// emitToken prints a mirror with its new report token, the one time it is shown.
func (a *app) emitToken(asJSON bool, m mirror, token, format string, args ...any) error {
	format += "\nreport token for %s (shown once; only its hash is stored):\n  %s"
	return a.emit(asJSON, addedMirror{m, token}, format, append(args, m.Name, token)...)
}

func (a *app) mirrorAdd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "add NAME --site SITE --country CC [--http URL] [--https URL] [--ftp URL] [--rsync URL] [flags]",
		Short: "Register a mirror",
		Example: `  mirrorkit mirror add ftp-de --site example-org --http http://127.0.0.1:8081/pub/ \
      --rsync rsync://127.0.0.1:8730/pub/ --country DE --lat 50.1 --lon 8.7 \
      --bandwidth 1000 --netblock 192.0.2.0/24 --asn 64500`,
		Args: exactArgs("NAME"),
		RunE: a.withStore(func(cmd *cobra.Command, st store.Store, args []string) error {
			m := registry.NewMirror(args[0], "")
			if err := applyAll(cmd.Flags(), mirrorFlags(), &m); err != nil {
				return err
			}
			token, hash, err := registry.NewReportToken()
			if err != nil {
				return err
			}
			m.TokenHash = hash
			if m, err = st.CreateMirror(cmd.Context(), m); err != nil {
				return fmt.Errorf("mirror %q not added: %w", args[0], err)
			}
			return a.emitToken(asJSON, m, token, "added mirror %s (id %d)", m.Name, m.ID)
		}),
	}
	defaults := registry.NewMirror("", "")
	defineAll(cmd.Flags(), mirrorFlags(), &defaults)
	jsonFlag(cmd, &asJSON, "the new mirror and its report token")
	return cmd
}

func (a *app) mirrorList() *cobra.Command {
	var asJSON bool
	var siteName string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List mirrors",
		Long:  "List mirrors sorted by name. --json prints one array whose fields are documented in docs/registry-json.md.",
		Args:  exactArgs(),
		RunE: a.withStore(func(cmd *cobra.Command, st store.Store, _ []string) error {
			all, err := st.Mirrors(cmd.Context())
			if err != nil {
				return err
			}
			mirrors := all[:0]
			for _, m := range all {
				if siteName == "" || m.Site == siteName {
					mirrors = append(mirrors, m)
				}
			}
			if asJSON {
				return a.printJSON(mirrors)
			}
			latest, err := st.LatestScans(cmd.Context())
			if err != nil {
				return err
			}
			lastGood, err := st.LastGoodScans(cmd.Context())
			if err != nil {
				return err
			}
			now := time.Now()
			if a.now != nil {
				now = a.now()
			}
			rows := make([][]string, 0, len(mirrors))
			for _, m := range mirrors {
				r, scanned := latest[m.ID]
				last := lastScan(r, scanned, now)
				if good, ok := lastGood[m.ID]; scanned && (!ok || now.Sub(good) > time.Duration(a.cfg.Scan.MaxAge)) {
					last += " (stale)"
				}
				rows = append(rows, []string{m.Name, m.Site, strconv.Itoa(m.Tier), m.Location.Country,
					protocolList(m), bandwidth(m.BandwidthMbps), strconv.Itoa(m.Score), state(m), listing(m), last})
			}
			return a.table([]string{"name", "site", "tier", "country", "protocols", "bandwidth", "score", "state", "listed", "last scan"}, rows)
		}),
	}
	jsonFlag(cmd, &asJSON, "an array")
	cmd.Flags().StringVar(&siteName, "site", "", "only the mirrors of this site")
	return cmd
}

// recentScans follows `mirror show`'s fields with the last scans.
func (a *app) recentScans(cmd *cobra.Command, st store.Store, m mirror) error {
	scans, err := st.Scans(cmd.Context(), m.Name, 5)
	if err != nil || len(scans) == 0 {
		return err
	}
	fmt.Fprintln(a.stdout, "\nrecent scans (mirrorkit mirror scans "+m.Name+" for more):")
	return a.table(append([]string{"finished"}, scanHeader[1:]...), scanRows(scans))
}

// displayOrder is the order people expect protocols in; scanners use another.
func displayOrder() []registry.Protocol {
	return []registry.Protocol{registry.HTTP, registry.HTTPS, registry.FTP, registry.RSYNC}
}

func protocolList(m mirror) string {
	var ps []string
	for _, p := range displayOrder() {
		if m.URLs.Get(p) != "" {
			ps = append(ps, string(p))
		}
	}
	return strings.Join(ps, ",")
}

func bandwidth(mbps int64) string {
	switch {
	case mbps == 0:
		return "-"
	case mbps%1000 == 0:
		return fmt.Sprintf("%d Gbit/s", mbps/1000)
	}
	return fmt.Sprintf("%d Mbit/s", mbps)
}

func state(m mirror) string {
	if m.Enabled {
		return "enabled"
	}
	return "disabled"
}

func listing(m mirror) string {
	if m.Public {
		return "public"
	}
	return "private"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func mirrorFields(m mirror) [][2]string {
	loc := m.Location.Country + ", " + m.Location.Continent
	if m.Location.City != "" {
		loc = m.Location.City + ", " + loc
	}
	if m.Location.Latitude != nil {
		loc += fmt.Sprintf(" (%.4f, %.4f)", *m.Location.Latitude, *m.Location.Longitude)
	}
	upstream := m.Upstream
	if upstream == "" {
		upstream = "origin"
	}
	st := state(m)
	if !m.Enabled && m.DisabledReason != "" {
		st += ": " + m.DisabledReason
	}
	asns := make([]string, len(m.ASNs))
	for i, n := range m.ASNs {
		asns[i] = "AS" + strconv.FormatUint(uint64(n), 10)
	}
	var rules []string
	for _, r := range []struct {
		on   bool
		name string
	}{{m.Rules.CountryOnly, "country-only"}, {m.Rules.ContinentOnly, "continent-only"}, {m.Rules.ASNOnly, "asn-only"}} {
		if r.on {
			rules = append(rules, r.name)
		}
	}
	if len(m.Rules.ExcludeCountries) > 0 {
		rules = append(rules, "exclude "+strings.Join(m.Rules.ExcludeCountries, ","))
	}
	if len(m.Rules.ExtraCountries) > 0 {
		rules = append(rules, "extra "+strings.Join(m.Rules.ExtraCountries, ","))
	}
	content := "whole tree"
	if len(m.Content) > 0 {
		content = strings.Join(m.Content, " ")
	}
	out := [][2]string{{"name", m.Name}, {"id", strconv.FormatInt(m.ID, 10)}, {"site", m.Site}}
	for _, p := range displayOrder() {
		if u := m.URLs.Get(p); u != "" {
			out = append(out, [2]string{string(p), u})
		}
	}
	return append(out, [][2]string{
		{"tier", fmt.Sprintf("%d (upstream: %s)", m.Tier, upstream)},
		{"location", loc},
		{"bandwidth", bandwidth(m.BandwidthMbps)},
		{"score", strconv.Itoa(m.Score)},
		{"state", st},
		{"listed", listing(m)},
		{"address families", strings.TrimSpace(fmt.Sprintf("%s %s", map[bool]string{true: "IPv4"}[m.IPv4], map[bool]string{true: "IPv6"}[m.IPv6]))},
		{"large files", yesNo(m.LargeFiles)},
		{"max file size", formatSize(m.MaxFileSize)},
		{"content", content},
		{"netblocks", dash(strings.Join(m.Netblocks, " "))},
		{"asns", dash(strings.Join(asns, " "))},
		{"rules", dash(strings.Join(rules, "; "))},
		{"report token", map[bool]string{true: "set (hash stored)", false: "none"}[m.TokenHash != ""]},
		{"private notes", dash(indentMore(m.PrivateNotes))},
		{"created", m.CreatedAt.Format(timeLayout)},
		{"updated", m.UpdatedAt.Format(timeLayout)},
	}...)
}

// editMirror reads a mirror, lets change modify it, and writes it back.
func editMirror(cmd *cobra.Command, st store.Store, name, verb string, change func(*mirror) error) (mirror, error) {
	m, err := st.Mirror(cmd.Context(), name)
	if err != nil {
		return m, err
	}
	if err := change(&m); err != nil {
		return m, err
	}
	m, err = st.UpdateMirror(cmd.Context(), m)
	if err != nil {
		return m, fmt.Errorf("mirror %q not %s: %w", name, verb, err)
	}
	return m, nil
}

func (a *app) mirrorEdit() *cobra.Command {
	var rename string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "edit NAME [flags]",
		Short: "Change a mirror's fields; only the flags given change",
		Long: `Change a mirror's fields; only the flags given change. List flags (--content,
--netblock, --asn, --exclude-country, --extra-country) replace the whole list;
give an empty value to clear one.`,
		Example: `  mirrorkit mirror edit ftp-de --bandwidth 10000 --content /fedora/,/epel/
  mirrorkit mirror edit ftp-de --content ""        # carries the whole tree again`,
		Args: exactArgs("NAME"),
		RunE: a.withStore(func(cmd *cobra.Command, st store.Store, args []string) error {
			m, err := editMirror(cmd, st, args[0], "changed", func(m *mirror) error {
				if err := applyAll(cmd.Flags(), mirrorFlags(), m); err != nil {
					return err
				}
				if cmd.Flags().Changed("rename") {
					m.Name = rename
				}
				return nil
			})
			if err != nil {
				return err
			}
			return a.emit(asJSON, m, "changed mirror %s", m.Name)
		}),
	}
	defineAll(cmd.Flags(), mirrorFlags(), &mirror{})
	cmd.Flags().StringVar(&rename, "rename", "", "give the mirror a new name")
	jsonFlag(cmd, &asJSON, "the changed mirror")
	return cmd
}

func (a *app) mirrorEnable(enable bool) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "enable NAME",
		Short: "Let a mirror receive redirects again",
		Args:  exactArgs("NAME"),
		RunE: a.withStore(func(cmd *cobra.Command, st store.Store, args []string) error {
			m, err := editMirror(cmd, st, args[0], state(mirror{Enabled: enable}), func(m *mirror) error {
				m.Enabled = enable
				m.DisabledReason = ""
				if !enable {
					m.DisabledReason = reason
				}
				return nil
			})
			if err != nil {
				return err
			}
			return a.emit(false, nil, "%s mirror %s", state(m), m.Name)
		}),
	}
	if !enable {
		cmd.Use, cmd.Short = "disable NAME [--reason TEXT]", "Stop sending redirects to a mirror, keeping its registration"
		cmd.Flags().StringVar(&reason, "reason", "", "why, for the other admins (private)")
	}
	return cmd
}

func (a *app) mirrorRotateToken() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rotate-token NAME",
		Short: "Issue a new report token for a mirror; the old one stops working",
		Args:  exactArgs("NAME"),
		RunE: a.withStore(func(cmd *cobra.Command, st store.Store, args []string) error {
			token, hash, err := registry.NewReportToken()
			if err != nil {
				return err
			}
			m, err := editMirror(cmd, st, args[0], "changed", func(m *mirror) error {
				m.TokenHash = hash
				return nil
			})
			if err != nil {
				return err
			}
			return a.emitToken(asJSON, m, token, "rotated the report token of %s", m.Name)
		}),
	}
	jsonFlag(cmd, &asJSON, "the mirror and its new token")
	return cmd
}
