package postgres_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/mirrorkit/mirrorkit/internal/store"
	"github.com/mirrorkit/mirrorkit/internal/store/postgres"
	"github.com/mirrorkit/mirrorkit/internal/store/storetest"
	"github.com/mirrorkit/mirrorkit/internal/testutil/pgtest"
)

var pg pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	pg.Close()
	os.Exit(code)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opts store.Options) store.Store {
		st, err := postgres.Open(context.Background(), pg.Database(t), opts)
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

// Several processes that start at once against a fresh database must apply the
// migrations once, not fail on each other.
func TestConcurrentMigrate(t *testing.T) {
	dsn := pg.Database(t)
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			st, err := postgres.Open(context.Background(), dsn, store.Options{})
			if err == nil {
				st.Close()
			}
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestDeadServer(t *testing.T) {
	dsn := "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"
	_, err := postgres.Open(context.Background(), dsn, store.Options{})
	if err == nil || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("err = %v, want a connect error", err)
	}
	if _, err := postgres.Open(context.Background(), "postgres://%zz", store.Options{}); err == nil {
		t.Fatal("accepted a malformed DSN")
	}
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store {
		st, err := postgres.Open(context.Background(), pg.Database(b), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		return st
	})
}
