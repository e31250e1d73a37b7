package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mirrorkit/mirrorkit/internal/testutil"
)

var shared Shared

func TestMain(m *testing.M) {
	defer shared.Close()
	m.Run()
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func dbName(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse %s: %v", dsn, err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

func TestDatabasesAreSeparate(t *testing.T) {
	t.Parallel()
	start := time.Now()
	srv := ForTest(t)
	t.Logf("ForTest took %v (port %d)", time.Since(start), srv.Port())
	ctx := t.Context()

	dsnA, err := srv.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dsnB, err := srv.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if dsnA == dsnB {
		t.Fatalf("CreateDatabase returned %s twice", dsnA)
	}

	a, b := connect(t, dsnA), connect(t, dsnB)
	for i, conn := range []*pgx.Conn{a, b} {
		if _, err := conn.Exec(ctx, "CREATE TABLE t(x int)"); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "INSERT INTO t(x) VALUES ($1)", i+10); err != nil {
			t.Fatal(err)
		}
		var x int
		if err := conn.QueryRow(ctx, "SELECT x FROM t").Scan(&x); err != nil {
			t.Fatal(err)
		}
		if x != i+10 {
			t.Fatalf("database %d: got %d, want %d", i, x, i+10)
		}
	}

	if _, err := a.Exec(ctx, "CREATE TABLE only_in_a(y int)"); err != nil {
		t.Fatal(err)
	}
	_, err = b.Exec(ctx, "SELECT y FROM only_in_a")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42P01" {
		t.Fatalf("table of database A seen from B: want undefined_table, got %v", err)
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	start := time.Now()
	srv, err := Start(t.Context())
	if errors.Is(err, ErrNotInstalled) {
		testutil.MissingTool(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Start took %v", time.Since(start))
	t.Cleanup(func() { srv.Stop() })

	dsn, err := srv.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	pid, err := readPostmasterPID(srv.data)
	if err != nil {
		t.Fatal(err)
	}
	// An open client session must not keep the server, or its backend, alive.
	open := connect(t, dsn)
	var backend int
	if err := open.QueryRow(t.Context(), "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		t.Fatal(err)
	}

	if err := srv.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, dsn); err == nil {
		conn.Close(ctx)
		t.Fatal("connect after Stop succeeded")
	}
	if _, err := os.Stat(srv.base); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat %s after Stop: %v, want not exist", srv.base, err)
	}
	for _, p := range []int{pid, backend} {
		if processAlive(p) {
			t.Errorf("process %d still alive after Stop", p)
		}
	}
	if _, err := srv.CreateDatabase(t.Context()); err == nil {
		t.Error("CreateDatabase after Stop succeeded")
	}
}

func TestConcurrentCreateDatabase(t *testing.T) {
	t.Parallel()
	srv := ForTest(t)
	const n = 8
	dsns := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { dsns[i], errs[i] = srv.CreateDatabase(t.Context()) })
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		name := dbName(t, dsns[i])
		if seen[name] {
			t.Fatalf("database %s created twice", name)
		}
		seen[name] = true
	}

	conn := connect(t, srv.DSN("postgres"))
	var count int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_database WHERE datname LIKE 'mk\\_%'").Scan(&count); err != nil {
		t.Fatal(err)
	}
	if count != n {
		t.Fatalf("server has %d mk_ databases, want %d", count, n)
	}
}

// TestSharedAcrossTests uses the package's TestMain-managed Shared from two
// tests running at once, which also exercises the lazy start racing itself.
func TestSharedAcrossTests(t *testing.T) {
	var mu sync.Mutex
	ports := map[string]string{}
	t.Run("group", func(t *testing.T) {
		for _, name := range []string{"first", "second"} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				dsn := shared.Database(t)
				conn := connect(t, dsn)
				if _, err := conn.Exec(t.Context(), "CREATE TABLE t(x int)"); err != nil {
					t.Fatal(err)
				}
				u, err := url.Parse(dsn)
				if err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				ports[name+" "+dbName(t, dsn)] = u.Port()
				mu.Unlock()
			})
		}
	})
	if t.Failed() || t.Skipped() {
		return
	}
	if len(ports) != 2 {
		t.Fatalf("got %d databases, want 2: %v", len(ports), ports)
	}
	var port, db string
	for k, p := range ports {
		name := strings.Fields(k)[1]
		if port != "" && p != port {
			t.Fatalf("databases on different servers: %v", ports)
		}
		if name == db {
			t.Fatalf("both tests got database %s", name)
		}
		port, db = p, name
	}
}

func TestSharedClose(t *testing.T) {
	t.Parallel()
	var sh Shared
	dsn := sh.Database(t)
	srv := sh.srv
	if other := sh.Database(t); dbName(t, other) == dbName(t, dsn) {
		t.Fatalf("Database returned %s twice", dsn)
	}
	sh.Close()
	sh.Close()
	if _, err := os.Stat(srv.base); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat %s after Close: %v, want not exist", srv.base, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, dsn); err == nil {
		conn.Close(ctx)
		t.Fatal("connect after Close succeeded")
	}
}

// TestSharedCloseUnused checks that Close without any Database call starts
// nothing, and that a late Database does not start a server nobody stops.
func TestSharedCloseUnused(t *testing.T) {
	var sh Shared
	sh.Close()
	rec := &recordingTB{TB: t}
	if dsn := sh.Database(rec); dsn != "" || rec.fatal == "" {
		t.Fatalf("Database after Close = %q, fatal %q; want a failure", dsn, rec.fatal)
	}
	if sh.srv != nil {
		t.Fatal("Database after Close started a server")
	}
}

// recordingTB observes Fatalf without ending the test goroutine.
type recordingTB struct {
	testing.TB
	fatal string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
}

func TestSortByVersionDesc(t *testing.T) {
	dirs := []string{"/usr/lib/postgresql/9.6/bin", "/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/x/bin", "/usr/lib/postgresql/16/bin"}
	sortByVersionDesc(dirs)
	want := []string{"/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/9.6/bin", "/usr/lib/postgresql/x/bin"}
	for i := range want {
		if dirs[i] != want[i] {
			t.Fatalf("got %v, want %v", dirs, want)
		}
	}
}

func TestFindBinariesFallsBackToNewestDebianDir(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	root := t.TempDir()
	for _, v := range []string{"9.6", "15", "16"} {
		dir := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range binaryNames {
			// 16 lacks postgres, so it must be passed over as incomplete.
			if v == "16" && name == "postgres" {
				continue
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	b, err := findBinaries(filepath.Join(root, "*", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "15", "bin", "pg_ctl"); b.pgCtl != want {
		t.Fatalf("pg_ctl = %s, want %s", b.pgCtl, want)
	}
}

func TestMissingBinariesReported(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := findBinaries(filepath.Join(t.TempDir(), "*", "bin"))
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("want ErrNotInstalled, got %v", err)
	}
	for _, name := range binaryNames {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}
