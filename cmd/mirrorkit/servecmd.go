package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mirrorkit/mirrorkit/internal/config"
	"github.com/mirrorkit/mirrorkit/internal/fileserver"
	"github.com/mirrorkit/mirrorkit/internal/rsync/rsyncd"
)

// serveFlags override [serve] keys for one run. A flag given overrides
// even with an empty or zero value: --http "" and --rsync-port 0 turn
// those services off.
type serveFlags struct {
	root, http, https, cert, key, module string
	rsyncPort                            int
	set                                  *pflag.FlagSet
}

func (a *app) serveCommand() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve [--root DIR] [--http ADDR] [--https ADDR --cert FILE --key FILE] [--rsync-port N] [--rsync-module NAME]",
		Short: "Serve this mirror's tree over HTTP(S) and rsync, as the mirror seeds ask",
		Long: `Serve the mirror tree (serve.root) over HTTP and HTTPS (keep-alive, ranges,
sendfile, cache rules for repository metadata and packages, directory listings
as HTML and JSON, a per-client connection cap, a byte-accurate access log) and
over rsync, by running and supervising the real rsync daemon with a generated
rsyncd.conf (read-only, checksum runs refused, staged content ignored, an
unprivileged user when run as root, an optional private module for staged
content). Staged (not world-readable) content is never served nor revealed.
Scheduled bit flips (mirrorkit release flip --at) are carried out. Metrics are
on serve.metrics_listen; SIGHUP reopens the access log; SIGTERM drains and stops.`,
		Example: `  mirrorkit serve --root /srv/pub --http :8080 --rsync-port 8730
  mirrorkit serve rsyncd-conf`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.serveSettings(&f)
			if err != nil {
				return err
			}
			return a.serve(cmd.Context(), c)
		},
	}
	// Persistent: `serve rsyncd-conf` takes the same overrides.
	fl := cmd.PersistentFlags()
	f.set = fl
	fl.StringVar(&f.root, "root", "", "the tree to serve (config serve.root)")
	fl.StringVar(&f.http, "http", "", `HTTP address, "" for none (config serve.listen)`)
	fl.StringVar(&f.https, "https", "", "HTTPS address (config serve.listen_tls)")
	fl.StringVar(&f.cert, "cert", "", "PEM certificate for HTTPS (config serve.tls_cert)")
	fl.StringVar(&f.key, "key", "", "PEM key for HTTPS (config serve.tls_key)")
	fl.IntVar(&f.rsyncPort, "rsync-port", 0, "rsync daemon port, 0 for none (config serve.rsync_port)")
	fl.StringVar(&f.module, "rsync-module", "", "the public rsync module's name (config serve.rsync_module)")
	cmd.AddCommand(a.serveRsyncdConf(&f))
	return cmd
}

// serveSettings is the [serve] section with the command line's overrides.
func (a *app) serveSettings(f *serveFlags) (config.Serve, error) {
	c := a.cfg.Serve
	given := func(name string) bool { return f.set != nil && f.set.Changed(name) }
	for _, o := range []struct {
		flag string
		dst  *string
		v    string
	}{{"root", &c.Root, f.root}, {"http", &c.Listen, f.http}, {"https", &c.ListenTLS, f.https},
		{"cert", &c.TLSCert, f.cert}, {"key", &c.TLSKey, f.key}, {"rsync-module", &c.RsyncModule, f.module}} {
		if given(o.flag) {
			*o.dst = o.v
		}
	}
	if given("rsync-port") {
		if f.rsyncPort < 0 || f.rsyncPort > 65535 {
			return c, usagef("--rsync-port: %d is out of range 0..65535 (0 for none)", f.rsyncPort)
		}
		c.RsyncPort = f.rsyncPort
	}
	if c.Listen == "" && c.ListenTLS == "" && c.RsyncPort == 0 {
		return c, usagef("nothing to serve: HTTP (--http, serve.listen), HTTPS (--https, serve.listen_tls) and rsync (--rsync-port, serve.rsync_port) are all off")
	}
	if c.Root == "" {
		return c, usagef("no tree: set serve.root in the config or pass --root DIR")
	}
	abs, err := filepath.Abs(c.Root)
	if err != nil {
		return c, err
	}
	c.Root = abs
	return c, nil
}

// fileserverConfig maps [serve] onto the HTTP server's settings.
func fileserverConfig(c config.Serve) fileserver.Config {
	fc := fileserver.DefaultConfig(c.Root)
	fc.Listen, fc.ListenTLS, fc.CertFile, fc.KeyFile = c.Listen, c.ListenTLS, c.TLSCert, c.TLSKey
	fc.IdleTimeout, fc.MaxConnsPerIP, fc.NoRange = time.Duration(c.IdleTimeout), c.MaxConnsPerIP, c.NoRange
	fc.AccessLog, fc.AccessLogMaxBytes = c.AccessLog, int64(c.AccessLogMaxSize)
	fc.OpenCacheTTL = time.Duration(c.OpenCacheTTL)
	return fc
}

// rsyncdConfig maps [serve] onto the rsync daemon's settings.
func rsyncdConfig(c config.Serve) (rsyncd.Config, error) {
	rc := rsyncd.Defaults(c.Root, filepath.Join(c.StateDir, "rsyncd"), os.Geteuid() == 0)
	rc.Address, rc.Port, rc.MaxConnections = c.RsyncAddress, c.RsyncPort, c.RsyncMaxConnections
	rc.Timeout, rc.UID, rc.GID, rc.MOTD = time.Duration(c.RsyncTimeout), c.RsyncUser, c.RsyncGroup, c.RsyncMOTD
	rc.RefuseOptions = c.RsyncRefuseOptions
	rc.Modules[0].Name = c.RsyncModule
	if c.PrivateModule != "" {
		p := &rsyncd.Private{Name: c.PrivateModule, Path: c.Root, Port: c.PrivatePort, UID: "root", GID: "root"}
		if os.Geteuid() != 0 {
			p.UID, p.GID = "", ""
		}
		for _, h := range c.PrivateHostsAllow {
			pre, err := netip.ParsePrefix(h)
			if err != nil {
				addr, aerr := netip.ParseAddr(h)
				if aerr != nil {
					return rc, fmt.Errorf("serve.private_hosts_allow: %q is neither an address nor a CIDR", h)
				}
				pre = netip.PrefixFrom(addr, addr.BitLen())
			}
			p.HostsAllow = append(p.HostsAllow, pre)
		}
		if c.PrivateUsersFile != "" {
			users, err := readUsers(c.PrivateUsersFile)
			if err != nil {
				return rc, fmt.Errorf("serve.private_users_file: %w", err)
			}
			p.Users = users
		}
		rc.Private = p
	}
	return rc, rc.Validate()
}

// readUsers reads "user:password" lines; the file must be private.
func readUsers(path string) ([]rsyncd.User, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	var users []rsyncd.User
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, pw, ok := strings.Cut(line, ":")
		if !ok || name == "" || pw == "" {
			return nil, fmt.Errorf("%s:%d: want user:password", path, n)
		}
		users = append(users, rsyncd.User{Name: name, Password: pw})
	}
	return users, sc.Err()
}

func (a *app) serveRsyncdConf(f *serveFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "rsyncd-conf",
		Short: "Print the rsyncd.conf that mirrorkit serve generates, for review",
		Args:  exactArgs(),
		RunE: func(*cobra.Command, []string) error {
			c, err := a.serveSettings(f)
			if err != nil {
				return err
			}
			rc, err := rsyncdConfig(c)
			if err != nil {
				return codedError{exitConfig, err}
			}
			pub, err := rsyncd.Generate(rc)
			if err != nil {
				return codedError{exitConfig, err}
			}
			if _, err := a.stdout.Write(pub); err != nil {
				return err
			}
			if rc.PrivateConfigPath() == "" {
				return nil
			}
			priv, err := rsyncd.GeneratePrivate(rc)
			if err != nil {
				return codedError{exitConfig, err}
			}
			_, err = fmt.Fprintf(a.stdout, "\n# ==> %s <==\n%s", rc.PrivateConfigPath(), priv)
			return err
		},
	}
}

// serve runs the HTTP server, the rsync daemon and the bit-flip scheduler
// until ctx ends.
func (a *app) serve(ctx context.Context, c config.Serve) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	fc := fileserverConfig(c)
	if err := fc.Validate(); err != nil {
		return codedError{exitConfig, err}
	}
	fs, err := fileserver.New(fc, fileserver.WithLogger(a.log), fileserver.WithRegisterer(reg))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)
	running := 0
	if c.RsyncPort > 0 {
		rc, err := rsyncdConfig(c)
		if err != nil {
			return codedError{exitConfig, err}
		}
		sup, err := rsyncd.NewSupervisor(rc, rsyncd.Options{Logger: a.log, Registerer: reg})
		if err != nil {
			return err
		}
		running++
		go func() { errc <- sup.Run(ctx) }()
		ready, stop := context.WithTimeout(ctx, time.Minute)
		err = sup.WaitReady(ready)
		stop()
		if err != nil {
			cancel()
			<-errc
			return fmt.Errorf("rsync daemon: %w", err)
		}
	}
	sched := a.scheduler(c.Root)
	running++
	go func() { errc <- sched.Run(ctx, time.Duration(c.ReleaseCheck)) }()
	if c.MetricsListen != "" {
		stop, err := a.serveMetrics(ctx, c.MetricsListen, reg)
		if err != nil {
			return err
		}
		defer stop()
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := fs.Reopen(); err != nil {
					a.log.Warn("access log not reopened", "err", err)
				}
			}
		}
	}()
	a.log.Info("serving", "root", c.Root, "http", c.Listen, "https", c.ListenTLS, "rsync_port", c.RsyncPort)
	if c.Listen != "" || c.ListenTLS != "" {
		err = fs.Run(ctx)
	} else {
		// rsync alone: until stopped, or until a service gives up.
		select {
		case <-ctx.Done():
		case err = <-errc:
			running--
		}
	}
	cancel()
	for ; running > 0; running-- {
		if e := <-errc; e != nil && !errors.Is(e, context.Canceled) && err == nil {
			err = e
		}
	}
	a.log.Info("stopped serving")
	return err
}
