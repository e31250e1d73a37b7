package fileserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Server serves one mirror tree over HTTP and HTTPS. It is an http.Handler;
// Serve, ServeTLS and Run add what needs the connections themselves (per-IP
// cap, exact byte counts, send timeout). Safe for concurrent use.
type Server struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	root  *os.Root
	dirs  *dirCache  // nil when off
	files *fileCache // nil when off
	// serveContentAlways sends every small file through http.ServeContent,
	// and noFast keeps every request off the fast path: the references the
	// plain path and the fast path are tested against.
	serveContentAlways, noFast bool
	fast                       fastConns
	fastAnswers                atomic.Int64
	rootReal                   string // the tree's real path, for absolute symlinks
	rootInfo                   fs.FileInfo

	types                *typeTable
	metadata, immutable  patterns
	noRange              patterns
	hide                 []string
	ccImmutable, ccOther string
	retryAfter           string
	reg                  prometheus.Registerer
	m                    *metrics
	alog                 *accessLog
	cert                 *certReloader
	hs                   *http.Server
	sendfileBytes        atomic.Int64 // bytes handed to TCPConn.ReadFrom with a file: sendfile(2); for tests
	pending              atomic.Int64 // requests whose access log line is not written yet
	ipMu                 sync.Mutex
	perIP                map[netip.Addr]int
	closeOnce            sync.Once
	closeErr             error
}

// Option sets what is not configuration: where logs and metrics go.
type Option func(*Server)

// WithLogger sets the logger for errors and events (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithRegisterer registers the Server's metrics (names mirrorkit_fileserver_*)
// on reg. Without it the metrics are kept but not exported.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(s *Server) { s.reg = reg }
}

// New checks cfg, opens the tree, the access log and the certificate, and
// returns a Server ready to serve.
func New(cfg Config, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("fileserver config: %w", err)
	}
	s := &Server{cfg: cfg, log: slog.Default(), now: time.Now, perIP: map[netip.Addr]int{}}
	for _, o := range opts {
		o(s)
	}
	var err error
	if s.m, err = newMetrics(s.reg); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("fileserver root: %w", err)
	}
	if s.rootReal, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, fmt.Errorf("fileserver root: %w", err)
	}
	if s.root, err = os.OpenRoot(s.rootReal); err != nil {
		return nil, fmt.Errorf("fileserver root: %w", err)
	}
	if s.rootInfo, err = s.root.Stat("."); err != nil {
		s.root.Close()
		return nil, fmt.Errorf("fileserver root: %w", err)
	}
	s.dirs = newDirCache(cfg.OpenCacheTTL, dirCacheMax)
	s.files = newFileCache(cfg.OpenCacheTTL, fileCacheBytes)
	s.types = newTypeTable(cfg.ContentTypes, cfg.DefaultContentType)
	s.metadata, s.immutable, s.noRange = newPatterns(cfg.Metadata), newPatterns(cfg.Immutable), newPatterns(cfg.NoRange)
	s.hide = cfg.Hide
	s.ccImmutable = "public, max-age=" + strconv.FormatInt(int64(cfg.ImmutableMaxAge/time.Second), 10)
	if cfg.MaxAge > 0 {
		s.ccOther = "public, max-age=" + strconv.FormatInt(int64(cfg.MaxAge/time.Second), 10)
	}
	s.retryAfter = strconv.FormatInt(int64(cfg.RetryAfter/time.Second), 10)
	if cfg.CertFile != "" {
		if s.cert, err = newCertReloader(cfg.CertFile, cfg.KeyFile, s.log, s.m); err != nil {
			s.root.Close()
			return nil, fmt.Errorf("fileserver: %w", err)
		}
	}
	if cfg.AccessLog != "" {
		onErr := func(err error) { s.log.Error("access log", "err", err) }
		if s.alog, err = openAccessLog(cfg.AccessLog, cfg.AccessLogMaxBytes, cfg.AccessLogKeep, onErr); err != nil {
			s.root.Close()
			return nil, fmt.Errorf("fileserver: %w", err)
		}
	}
	s.hs = s.newHTTPServer()
	return s, nil
}

func (s *Server) newHTTPServer() *http.Server {
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true) // over TLS only (ALPN "h2")
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		Protocols:         &protos,
		// Handshake failures and clients that vanish are routine on a
		// public server: debug, not error.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, nc net.Conn) context.Context {
			if c := connOf(nc); c != nil {
				return context.WithValue(ctx, connKey{}, c)
			}
			return ctx
		},
		ConnState: func(nc net.Conn, st http.ConnState) {
			if st == http.StateIdle || st == http.StateClosed {
				if c := connOf(nc); c != nil {
					c.flushPending()
				}
			}
		},
	}
	if s.cert != nil {
		hs.TLSConfig = &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: s.cert.getCertificate,
			// Named here, not left to ServeTLS: when Serve (plain) runs
			// first, net/http sets HTTP/2 up only for a TLSConfig that
			// lists "h2", and the TLS listener would then negotiate h2
			// with no HTTP/2 server behind it.
			NextProtos: []string{"h2", "http/1.1"},
		}
	}
	return hs
}

// Serve serves plain HTTP on l until Shutdown or Close; it then returns
// http.ErrServerClosed, like http.Server.Serve.
func (s *Server) Serve(l net.Listener) error {
	if s.files != nil && !s.noFast { // without the file cache it would only ever hand over
		return s.hs.Serve(&fastListener{Listener: l, s: s, handoff: make(chan net.Conn), done: make(chan struct{})})
	}
	return s.hs.Serve(&listener{Listener: l, s: s})
}

// ServeTLS serves HTTPS (HTTP/2 and HTTP/1.1) on l with the configured
// certificate, reloaded when its files change.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.cert == nil {
		return errors.New("fileserver: ServeTLS needs cert_file and key_file")
	}
	return s.hs.ServeTLS(&listener{Listener: l, s: s}, "", "")
}

// Run listens on Config.Listen and Config.ListenTLS and serves until ctx ends
// or a listener fails, then shuts down, draining open requests for
// Config.ShutdownTimeout before closing what is left. It returns nil when
// ctx ended it (downloads cut at the deadline included), or the listener's
// error.
func (s *Server) Run(ctx context.Context) error {
	type srv struct {
		addr  string
		serve func(net.Listener) error
	}
	var srvs []srv
	if s.cfg.Listen != "" {
		srvs = append(srvs, srv{s.cfg.Listen, s.Serve})
	}
	if s.cfg.ListenTLS != "" {
		srvs = append(srvs, srv{s.cfg.ListenTLS, s.ServeTLS})
	}
	if len(srvs) == 0 {
		return errors.New("fileserver: nothing to listen on: set listen or listen_tls")
	}
	var lc net.ListenConfig
	var ls []net.Listener
	for _, v := range srvs {
		l, err := lc.Listen(ctx, "tcp", v.addr)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return fmt.Errorf("fileserver: listen: %w", err)
		}
		ls = append(ls, l)
	}
	errc := make(chan error, len(srvs))
	for i, v := range srvs {
		s.log.Info("serving", "addr", ls[i].Addr().String(), "tls", v.addr == s.cfg.ListenTLS && s.cfg.ListenTLS != "", "root", s.rootReal)
		go func() { errc <- v.serve(ls[i]) }()
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		serveErr = fmt.Errorf("fileserver: serve: %w", serveErr)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil // cutting downloads at the deadline is what was asked; Shutdown logged it
	}
	return errors.Join(serveErr, err)
}

// Shutdown stops accepting connections, lets requests in progress finish
// until ctx ends, then closes every connection, writes the last access log
// lines and closes the log and the tree. A download still running at the
// deadline is cut; its log line says how far it got.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.hs.Shutdown(ctx)
	if err == nil {
		s.fastShutdown(ctx.Done(), false)
		if ctx.Err() != nil {
			err = ctx.Err()
		}
	}
	wait := ctx
	if err != nil {
		s.fastShutdown(nil, true)
		s.log.Warn("shutdown deadline passed; closing the remaining connections", "err", err)
		err = errors.Join(err, s.hs.Close())
		// The connections just closed log their last lines from their own
		// goroutines; they need a moment that ctx no longer gives.
		var cancel context.CancelFunc
		wait, cancel = context.WithTimeout(context.WithoutCancel(ctx), lastLinesGrace)
		defer cancel()
	}
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
loop:
	for s.pending.Load() > 0 {
		select {
		case <-tick.C:
		case <-wait.Done():
			break loop
		}
	}
	return errors.Join(err, s.closeFiles())
}

// lastLinesGrace bounds the wait for the log lines of connections that
// Shutdown closed at its deadline.
const lastLinesGrace = time.Second

// Close closes every connection at once, then the log and the tree.
func (s *Server) Close() error {
	err := s.hs.Close()
	s.fastShutdown(nil, true)
	return errors.Join(err, s.closeFiles())
}

func (s *Server) closeFiles() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.alog != nil {
			errs = append(errs, s.alog.close())
		}
		s.dirs.close()
		errs = append(errs, s.root.Close())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// Reopen reopens the access log file at its path, for a log rotator that
// moved it (the CLI calls it on SIGHUP or SIGUSR1). Without an access log
// it does nothing.
func (s *Server) Reopen() error {
	if s.alog == nil {
		return nil
	}
	return s.alog.reopen()
}
