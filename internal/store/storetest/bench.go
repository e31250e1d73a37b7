package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/mirrorkit/mirrorkit/internal/registry/registrytest"
	"github.com/mirrorkit/mirrorkit/internal/store"
)

// BenchOpener returns a fresh, empty store for a benchmark.
type BenchOpener func(b *testing.B) store.Store

// Bench measures what services do with a registry: load it whole (a redirector
// does so at start and on every change), read one mirror, write one.
func Bench(b *testing.B, open BenchOpener) {
	ctx := context.Background()
	const mirrors = 300
	st := open(b)
	b.Cleanup(func() { st.Close() })
	if _, err := st.CreateSite(ctx, registrytest.Site("bench")); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < mirrors; i++ {
		if _, err := st.CreateMirror(ctx, registrytest.Mirror(fmt.Sprintf("m%03d", i), "bench")); err != nil {
			b.Fatal(err)
		}
	}
	b.Run(fmt.Sprintf("ListMirrors/%d", mirrors), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ms, err := st.Mirrors(ctx)
			if err != nil || len(ms) != mirrors {
				b.Fatal(len(ms), err)
			}
		}
	})
	b.Run("GetMirror", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := st.Mirror(ctx, "m150"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UpdateMirror", func(b *testing.B) {
		m, err := st.Mirror(ctx, "m150")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			m.Score++
			if m, err = st.UpdateMirror(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Export", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := st.Export(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
