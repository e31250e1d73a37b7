package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/registry/registrytest"
	"github.com/mirrorkit/mirrorkit/internal/store"
)

func (s suite) scanHistory(t *testing.T) {
	st, _ := s.store(t)
	must(st.CreateSite(ctx(t), registrytest.Site("site-a")))(t)
	a := must(st.CreateMirror(ctx(t), registrytest.Mirror("a", "site-a")))(t)
	b := must(st.CreateMirror(ctx(t), registrytest.Mirror("b", "site-a")))(t)
	if hs := must(st.Holdings(ctx(t)))(t); len(hs) != 0 {
		t.Fatalf("fresh store has holdings %+v", hs)
	}
	trace := epoch.Add(-time.Hour)
	ok := store.ScanRecord{MirrorID: a.ID, StartedAt: epoch, FinishedAt: epoch.Add(time.Minute), Protocol: "rsync", OK: true,
		Entries: 10, Current: 7, Stale: 1, Previous: 1, Unverified: 1, Missing: 2, Extra: 3, Claimed: 11, TraceTime: &trace}
	r1 := must(st.RecordScan(ctx(t), ok, &store.Holdings{CatalogBuild: 4, Files: []byte{1, 2, 3}, Previous: []byte{5}}))(t)
	if r1.ID == 0 || r1.Mirror != "a" {
		t.Fatalf("recorded %+v", r1)
	}
	// A failed scan is history only: the holdings stay.
	failed := store.ScanRecord{MirrorID: a.ID, StartedAt: epoch.Add(time.Hour), FinishedAt: epoch.Add(time.Hour), Error: "rsync: connection refused"}
	r2 := must(st.RecordScan(ctx(t), failed, nil))(t)
	if _, err := st.RecordScan(ctx(t), failed, &store.Holdings{Files: []byte{9}}); err == nil {
		t.Fatal("a failed scan replaced holdings")
	}
	hs := must(st.Holdings(ctx(t)))(t)
	if len(hs) != 1 || hs[0].MirrorID != a.ID || hs[0].ScanID != r1.ID || hs[0].CatalogBuild != 4 || string(hs[0].Files) != "\x01\x02\x03" || string(hs[0].Previous) != "\x05" ||
		!hs[0].ScannedAt.Equal(ok.FinishedAt) {
		t.Fatalf("holdings %+v", hs)
	}
	list := must(st.Scans(ctx(t), "a", 10))(t)
	if len(list) != 2 || list[0].ID != r2.ID || list[1].ID != r1.ID {
		t.Fatalf("scans %+v", list)
	}
	got := list[1]
	if got.TraceTime == nil || !got.TraceTime.Equal(trace) || !got.FinishedAt.Equal(ok.FinishedAt) || got.Current != 7 || got.Previous != 1 ||
		got.Claimed != 11 || got.Protocol != "rsync" || !got.OK || list[0].TraceTime != nil || list[0].Error == "" {
		t.Fatalf("read back %+v / %+v", got, list[0])
	}
	if one := must(st.Scans(ctx(t), "a", 1))(t); len(one) != 1 || one[0].ID != r2.ID {
		t.Fatalf("limit: %+v", one)
	}
	// A newer good scan replaces the holdings.
	must(st.RecordScan(ctx(t), ok, &store.Holdings{CatalogBuild: 5, Files: []byte{4}}))(t)
	must(st.RecordScan(ctx(t), store.ScanRecord{MirrorID: b.ID, OK: true, StartedAt: epoch, FinishedAt: epoch}, &store.Holdings{CatalogBuild: 5, Files: []byte{}}))(t)
	hs = must(st.Holdings(ctx(t)))(t)
	if len(hs) != 2 || hs[0].CatalogBuild != 5 || string(hs[0].Files) != "\x04" || hs[0].Previous != nil {
		t.Fatalf("holdings after rescan %+v", hs)
	}
	good := must(st.LastGoodScans(ctx(t)))(t)
	if len(good) != 2 || !good[a.ID].Equal(ok.FinishedAt) || !good[b.ID].Equal(epoch) {
		t.Fatalf("last good scans %+v", good)
	}
	latest := must(st.LatestScans(ctx(t)))(t)
	if len(latest) != 2 || latest[a.ID].Current != 7 || latest[b.ID].Mirror != "b" {
		t.Fatalf("latest %+v", latest)
	}
	if _, err := st.Scans(ctx(t), "ghost", 5); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("scans of a missing mirror: %v", err)
	}
	if _, err := st.RecordScan(ctx(t), store.ScanRecord{MirrorID: 99999}, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("scan of a missing mirror id: %v", err)
	}
	// Removing a mirror removes its history and holdings.
	if err := st.DeleteMirror(ctx(t), "a"); err != nil {
		t.Fatal(err)
	}
	if hs := must(st.Holdings(ctx(t)))(t); len(hs) != 1 || hs[0].MirrorID != b.ID {
		t.Fatalf("holdings after delete %+v", hs)
	}
	if l := must(st.LatestScans(ctx(t)))(t); len(l) != 1 {
		t.Fatalf("latest after delete %+v", l)
	}
}
