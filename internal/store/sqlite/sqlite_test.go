package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mirrorkit/mirrorkit/internal/store"
	"github.com/mirrorkit/mirrorkit/internal/store/sqlite"
	"github.com/mirrorkit/mirrorkit/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opts store.Options) store.Store {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mirrorkit.db"), opts)
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

func TestNewFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reg.db")
	st, err := sqlite.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Fatalf("new database file has mode %v: it holds private notes and token hashes", perm)
	}
	var mode string
	if err := st.SQL().QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q (%v), want wal", mode, err)
	}
}

func TestBadPaths(t *testing.T) {
	for _, p := range []string{"", "x?mode=memory", filepath.Join(t.TempDir(), "no", "such", "dir", "x.db")} {
		if st, err := sqlite.Open(context.Background(), p, store.Options{}); err == nil {
			st.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

func TestNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "garbage.db")
	if err := os.WriteFile(path, []byte("this is not an SQLite file, just some text that is long enough"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), path, store.Options{})
	if err == nil {
		st.Close()
		t.Fatal("opened a garbage file as a database")
	}
	if b, _ := os.ReadFile(path); string(b[:7]) != "this is" {
		t.Fatal("the garbage file was changed")
	}
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store {
		st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		return st
	})
}
