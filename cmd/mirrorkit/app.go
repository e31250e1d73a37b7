package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mirrorkit/mirrorkit/internal/config"
	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/store"
	"github.com/mirrorkit/mirrorkit/internal/store/backend"
)

// Exit codes, documented in docs/cli.md. Scripts rely on them: keep them stable.
const (
	exitOK       = 0
	exitFailure  = 1 // the command could not do its work: store unreachable, I/O error
	exitUsage    = 2 // bad command line: unknown command or flag, wrong arguments
	exitConfig   = 3 // invalid configuration
	exitInvalid  = 4 // the input was refused: validation failed, name taken, conflict
	exitNotFound = 5 // no site or mirror of that name
	exitRefused  = 6 // a safety guard refused the work (sync: too many deletions)
)

// codedError carries an exit code a command chose (a sync's outcome).
type codedError struct {
	code int
	err  error
}

func (e codedError) Error() string { return e.err.Error() }
func (e codedError) Unwrap() error { return e.err }

// defaultConfigFile is read when it exists and no other file is named.
const defaultConfigFile = "mirrorkit.toml"

// app is one invocation of the CLI: its streams, environment and the state the
// commands share. Tests build one per call, so nothing leaks between runs.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            []string
	now            func() time.Time // nil: the real clock

	configPath, dsn, logLevel, logFormat string

	cfg       *config.Config
	log       *slog.Logger
	st        store.Store
	ran       bool // the command line was accepted and a command started
	noMigrate bool // open the store without applying migrations (db commands)
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env []string) int {
	return (&app{stdin: stdin, stdout: stdout, stderr: stderr, env: env}).run(ctx, args)
}

func (a *app) run(ctx context.Context, args []string) int {
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	err := root.ExecuteContext(ctx)
	if a.st != nil {
		if cerr := a.st.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if err == nil {
		return exitOK
	}
	code := a.exitCode(err)
	fmt.Fprintf(a.stderr, "mirrorkit: %v\n", err)
	if code == exitUsage {
		fmt.Fprintln(a.stderr, "Run 'mirrorkit --help' for usage.")
	}
	return code
}

// usageError marks a bad command line found after the command started.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func (a *app) exitCode(err error) int {
	var ce *config.Error
	var ue usageError
	var coded codedError
	switch {
	case errors.As(err, &coded):
		return coded.code
	case !a.ran || errors.As(err, &ue):
		// cobra rejected the command line before any command ran.
		return exitUsage
	case errors.As(err, &ce):
		return exitConfig
	case errors.Is(err, store.ErrNotFound):
		return exitNotFound
	case registry.IsInvalid(err), errors.Is(err, store.ErrConflict):
		return exitInvalid
	}
	return exitFailure
}

// noConfig marks commands that must work without (or despite) a config file.
const noConfig = "noconfig"

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "mirrorkit",
		Short: "Run a software distribution's download-mirror network",
		Long: `mirrorkit runs a download-mirror network end to end: the registry of mirrors,
the redirector that sends each download to a nearby mirror holding the current
file, the scanners and probes that learn what each mirror really holds, and, on
the mirror's side, the sync agent and the HTTP/rsync server.

Configuration comes from one TOML file (--config, $MIRRORKIT_CONFIG, or
./mirrorkit.toml), MIRRORKIT_<SECTION>_<KEY> variables, and flags, in rising
precedence. See docs/mirrorkit.example.toml.`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: a.setup,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.configPath, "config", "", "configuration file (default ./mirrorkit.toml if present)")
	pf.StringVar(&a.dsn, "db", "", `store: "sqlite:PATH", a bare PATH, or "postgres://USER@HOST/DB" (config store.dsn)`)
	pf.StringVar(&a.logLevel, "log-level", "", "debug, info, warn or error (config log.level)")
	pf.StringVar(&a.logFormat, "log-format", "", "text or json (config log.format)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		a.versionCommand(),
		a.configCommand(),
		a.dbCommand(),
		a.siteCommand(),
		a.mirrorCommand(),
		a.registryCommand(),
		a.catalogCommand(),
		a.scannerCommand(),
		a.redirectorCommand(),
		a.syncCommand(),
		a.releaseCommand(),
		a.serveCommand(),
		a.demoCommand(),
	)
	for _, c := range root.Commands() {
		if c.HasSubCommands() && c.RunE == nil {
			rejectUnknownSubcommands(c)
		}
	}
	return root
}

// rejectUnknownSubcommands makes "mirrorkit mirror frobnicate" a usage error;
// cobra would print the group's help and exit 0.
func rejectUnknownSubcommands(group *cobra.Command) {
	group.Args = cobra.ArbitraryArgs
	group.Annotations = map[string]string{noConfig: "true"}
	group.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
		}
		return cmd.Help()
	}
}

// setup loads the configuration and the logger before any command runs.
func (a *app) setup(cmd *cobra.Command, _ []string) error {
	a.ran = true
	if cmd.Annotations[noConfig] != "" {
		a.log = slog.New(slog.NewTextHandler(a.stderr, nil))
		return nil
	}
	path, err := a.configFile(cmd.Flags())
	if err != nil {
		return err
	}
	cfg, err := config.Load(path, a.env, a.flagOverrides(cmd.Flags())...)
	if err != nil {
		return err
	}
	if _, _, err := backend.Parse(cfg.Store.DSN); err != nil {
		return &config.Error{Problems: []config.Problem{{Source: cfg.Origin("store.dsn"), Key: "store.dsn", Msg: err.Error()}}}
	}
	a.cfg = cfg
	a.log = newLogger(a.stderr, cfg.Log)
	return nil
}

// configFile picks the file: --config, then $MIRRORKIT_CONFIG, then
// ./mirrorkit.toml when it exists. A named file must exist.
func (a *app) configFile(fs *pflag.FlagSet) (string, error) {
	if fs.Changed("config") {
		return a.configPath, nil
	}
	if p := a.getenv(config.EnvConfig); p != "" {
		return p, nil
	}
	if _, err := os.Stat(defaultConfigFile); err == nil {
		return defaultConfigFile, nil
	}
	return "", nil
}

func (a *app) flagOverrides(fs *pflag.FlagSet) []config.Override {
	var out []config.Override
	for _, f := range []struct{ flag, key, value string }{
		{"db", "store.dsn", a.dsn},
		{"log-level", "log.level", a.logLevel},
		{"log-format", "log.format", a.logFormat},
	} {
		if fs.Changed(f.flag) {
			out = append(out, config.Override{Key: f.key, Value: f.value, Source: "--" + f.flag})
		}
	}
	return out
}

func (a *app) getenv(name string) string {
	for _, kv := range a.env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

func newLogger(w io.Writer, c config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// store opens the configured store once per invocation.
func (a *app) store(ctx context.Context) (store.Store, error) {
	if a.st != nil {
		return a.st, nil
	}
	opts := store.Options{
		Now:          a.now,
		NoMigrate:    a.noMigrate,
		MaxOpenConns: a.cfg.Store.MaxOpenConns,
		BusyTimeout:  time.Duration(a.cfg.Store.BusyTimeout),
	}
	st, err := backend.Open(ctx, a.cfg.Store.DSN, opts)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", backend.Redact(a.cfg.Store.DSN), err)
	}
	a.log.Debug("store open", "backend", st.Backend(), "dsn", backend.Redact(a.cfg.Store.DSN))
	a.st = st
	return st, nil
}

// withStore adapts a command body that needs the store into a cobra RunE.
func (a *app) withStore(body func(cmd *cobra.Command, st store.Store, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		st, err := a.store(cmd.Context())
		if err != nil {
			return err
		}
		return body(cmd, st, args)
	}
}

// showCommand is `site show` and `mirror show`: one record by name, as aligned
// fields or as JSON, private fields included (the CLI is the admins' tool).
//
// after, when set, prints more below the fields (a mirror's recent scans).
func showCommand[T any](a *app, what string, get func(store.Store, context.Context, string) (T, error), fields func(T) [][2]string,
	after func(*cobra.Command, store.Store, T) error) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show one " + what + ", private fields included",
		Args:  exactArgs("NAME"),
		RunE: a.withStore(func(cmd *cobra.Command, st store.Store, args []string) error {
			v, err := get(st, cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(v)
			}
			if err := a.fields(fields(v)); err != nil || after == nil {
				return err
			}
			return after(cmd, st, v)
		}),
	}
	jsonFlag(cmd, &asJSON, "the "+what)
	return cmd
}

// removeCommand is `site remove` and `mirror remove`.
func removeCommand(a *app, what, short string, del func(store.Store, context.Context, string) error) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: short,
		Args:  exactArgs("NAME"),
		RunE: a.withStore(func(cmd *cobra.Command, st store.Store, args []string) error {
			if err := del(st, cmd.Context(), args[0]); err != nil {
				return err
			}
			return a.emit(false, nil, "removed %s %s", what, args[0])
		}),
	}
}

// jsonFlag adds the --json flag every listing and show command has.
func jsonFlag(cmd *cobra.Command, dst *bool, what string) {
	cmd.Flags().BoolVar(dst, "json", false, "print "+what+" as JSON (fields: docs/registry-json.md)")
}

// emit prints v as JSON when asked, else the text line.
func (a *app) emit(asJSON bool, v any, format string, args ...any) error {
	if asJSON {
		return a.printJSON(v)
	}
	_, err := fmt.Fprintf(a.stdout, format+"\n", args...)
	return err
}

// printJSON writes v as indented JSON, the form every --json output takes.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table writes aligned columns; the header is upper-cased like ps and kubectl.
func (a *app) table(header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(header, "\t")))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// fields writes "key: value" lines, aligned, for `show` commands.
func (a *app) fields(pairs [][2]string) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 1, ' ', 0)
	for _, p := range pairs {
		fmt.Fprintf(tw, "%s:\t%s\n", p[0], p[1])
	}
	return tw.Flush()
}

// exactArgs is cobra.ExactArgs with a message that names what is missing.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return fmt.Errorf("%s takes %d argument(s): %s (got %d)", cmd.CommandPath(), len(names), strings.Join(names, " "), len(args))
		}
		return nil
	}
}
