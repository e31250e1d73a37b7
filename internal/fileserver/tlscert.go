package fileserver

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// certCheckInterval is how often a handshake may stat the certificate files.
const certCheckInterval = time.Second

// certReloader serves the certificate from CertFile/KeyFile and loads them
// again when either file changes (mtime, size or inode), checked at most once
// per interval on the handshake path, so renewals by certbot or an ACME
// client need no signal. A pair that does not load (a renewal half-written,
// a key that does not match) keeps the previous certificate in service.
type certReloader struct {
	certFile, keyFile string
	interval          time.Duration
	log               *slog.Logger
	m                 *metrics

	cert      atomic.Pointer[tls.Certificate]
	nextCheck atomic.Int64 // unix nanoseconds

	mu    sync.Mutex // one reload at a time
	stamp [2]fileStamp
}

type fileStamp struct {
	mtime time.Time
	size  int64
	ino   uint64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mtime: fi.ModTime(), size: fi.Size(), ino: inode(fi)}, nil
}

func newCertReloader(certFile, keyFile string, log *slog.Logger, m *metrics) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, interval: certCheckInterval, log: log, m: m}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

// load reads both files; the stamps are taken first, so a change during the
// read is seen again at the next check.
func (c *certReloader) load() error {
	cs, err := stampOf(c.certFile)
	if err != nil {
		return fmt.Errorf("tls certificate: %w", err)
	}
	ks, err := stampOf(c.keyFile)
	if err != nil {
		return fmt.Errorf("tls key: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tls certificate %s with key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert.Store(&cert)
	c.stamp = [2]fileStamp{cs, ks}
	return nil
}

func (c *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	now := time.Now().UnixNano()
	if next := c.nextCheck.Load(); now >= next && c.nextCheck.CompareAndSwap(next, now+int64(c.interval)) {
		c.check()
	}
	return c.cert.Load(), nil
}

// check reloads when a file changed. Errors are logged, not returned: a
// handshake should get the old certificate rather than fail.
func (c *certReloader) check() {
	if !c.mu.TryLock() {
		return
	}
	defer c.mu.Unlock()
	cs, err1 := stampOf(c.certFile)
	ks, err2 := stampOf(c.keyFile)
	if err1 != nil || err2 != nil {
		if c.stamp != [2]fileStamp{} {
			c.log.Warn("tls: cannot stat certificate files; keeping the loaded certificate", "cert", c.certFile, "key", c.keyFile, "err", firstErr(err1, err2))
			c.stamp = [2]fileStamp{} // log once, retry when they are back
		}
		return
	}
	if cs == c.stamp[0] && ks == c.stamp[1] {
		return
	}
	if err := c.load(); err != nil {
		c.m.tlsReloads.WithLabelValues("error").Inc()
		c.log.Warn("tls: reload failed; keeping the loaded certificate", "err", err)
		c.stamp = [2]fileStamp{cs, ks} // do not retry until they change again
		return
	}
	c.m.tlsReloads.WithLabelValues("ok").Inc()
	c.log.Info("tls: certificate reloaded", "cert", c.certFile)
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
