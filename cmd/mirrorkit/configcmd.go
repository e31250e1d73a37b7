package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mirrorkit/mirrorkit/internal/config"
)

func (a *app) configCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check and show the configuration",
	}
	cmd.AddCommand(a.configCheck(), a.configShow())
	return cmd
}

func (a *app) configCheck() *cobra.Command {
	return &cobra.Command{
		Use:   "check [FILE]",
		Short: "Validate a configuration file, or the effective configuration",
		Long: `With FILE, validate that file alone: syntax, unknown keys, types and ranges,
each problem named with its key and line. Without FILE, validate what mirrorkit
would run with: the config file, MIRRORKIT_* variables and flags together.
Exits 0 when valid and 3 when not.`,
		Args:        cobra.MaximumNArgs(1),
		Annotations: map[string]string{noConfig: "true"},
		RunE: func(cmd *cobra.Command, args []string) error {
			var cfg *config.Config
			var err error
			if len(args) == 1 {
				cfg, err = config.Load(args[0], nil)
			} else {
				var path string
				if path, err = a.configFile(cmd.Flags()); err == nil {
					cfg, err = config.Load(path, a.env, a.flagOverrides(cmd.Flags())...)
				}
			}
			if err != nil {
				return err
			}
			name := cfg.File()
			if name == "" {
				name = "defaults (no config file)"
			}
			fmt.Fprintf(a.stdout, "%s: ok\n", name)
			return nil
		},
	}
}

func (a *app) configShow() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration, with where each value came from",
		Args:  exactArgs(),
		RunE: func(*cobra.Command, []string) error {
			if asJSON {
				return a.printJSON(a.cfg)
			}
			section := ""
			for _, key := range config.Keys() {
				sec, name, _ := strings.Cut(key, ".")
				if sec != section {
					if section != "" {
						fmt.Fprintln(a.stdout)
					}
					fmt.Fprintf(a.stdout, "[%s]\n", sec)
					section = sec
				}
				v, _ := a.cfg.Value(key)
				fmt.Fprintf(a.stdout, "%s = %s  # %s\n", name, tomlValue(v), a.cfg.Origin(key))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// tomlValue formats the value kinds the configuration uses as TOML.
func tomlValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case fmt.Stringer:
		return fmt.Sprintf("%q", x.String())
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case []config.AllowOutdated:
		q := make([]string, len(x))
		for i, o := range x {
			q[i] = fmt.Sprintf("{ prefix = %q, max_lag = %q }", o.Prefix, o.MaxLag.String())
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return fmt.Sprint(v)
}
