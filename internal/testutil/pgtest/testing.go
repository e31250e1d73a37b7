package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/testutil"
)

// startTimeout bounds a start made on behalf of a test; initdb and start
// take about a second, the rest is room for a loaded CI machine.
const startTimeout = 2 * time.Minute

// ForTest starts one server for a testing.TB and registers Stop with tb.Cleanup. When no PostgreSQL binaries exist it calls testutil.MissingTool.
func ForTest(tb testing.TB) *Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), startTimeout)
	defer cancel()
	s, err := Start(ctx)
	if errors.Is(err, ErrNotInstalled) {
		testutil.MissingTool(tb, "%v", err)
		return nil
	}
	if err != nil {
		tb.Fatalf("%v", err)
		return nil
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("%v", err)
		}
	})
	return s
}

// Shared is one server for all tests of a package, started by the first test
// that asks for a database, so that packages whose PostgreSQL tests are
// filtered out with -run pay nothing. The zero value is ready to use; call
// Close after m.Run in TestMain.
type Shared struct {
	once sync.Once
	srv  *Server
	err  error

	mu     sync.Mutex
	closed bool
}

// Database returns the DSN of a new empty database on the shared server,
// starting the server on first use. When no PostgreSQL binaries exist it
// calls testutil.MissingTool.
func (sh *Shared) Database(tb testing.TB) string {
	tb.Helper()
	sh.mu.Lock()
	closed := sh.closed
	sh.mu.Unlock()
	if closed {
		tb.Fatalf("pgtest: Shared.Database called after Close")
		return ""
	}
	sh.once.Do(func() {
		// Not tb.Context(): the server outlives the test that happens to
		// start it, and that test being cancelled must not fail the others.
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		sh.srv, sh.err = Start(ctx)
	})
	if errors.Is(sh.err, ErrNotInstalled) {
		testutil.MissingTool(tb, "%v", sh.err)
		return ""
	}
	if sh.err != nil {
		tb.Fatalf("%v", sh.err)
		return ""
	}
	dsn, err := sh.srv.CreateDatabase(tb.Context())
	if err != nil {
		tb.Fatalf("%v", err)
		return ""
	}
	return dsn
}

// Close stops the server if one was started. It has no error result to fit
// a deferred call in TestMain, so a failure is printed to stderr, where go
// test shows it.
func (sh *Shared) Close() {
	sh.mu.Lock()
	sh.closed = true
	sh.mu.Unlock()
	// Waiting on once makes Close safe against a start still in progress
	// and stops a later Database from starting a server nobody would stop.
	sh.once.Do(func() { sh.err = errors.New("pgtest: Shared closed") })
	if sh.srv != nil {
		if err := sh.srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
}
