package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A tiny topology: quantized, delta-encoded arcs, a square made of two arcs
// (one used reversed), an island crossing the antimeridian, and Antarctica.
const tinyTopo = `{
  "type": "Topology",
  "transform": {"scale": [1, 1], "translate": [-180, -90]},
  "arcs": [
    [[180, 90], [10, 0], [0, 10]],
    [[180, 90], [0, 10], [10, 0]],
    [[358, 70], [-356, 0], [0, 4], [356, 0], [0, -4]],
    [[0, 0], [360, 0], [0, 10], [-360, 0], [0, -10]]
  ],
  "objects": {"countries": {"type": "GeometryCollection", "geometries": [
    {"type": "Polygon", "id": "999", "arcs": [[0, -2]], "properties": {"name": "Square"}},
    {"type": "Polygon", "id": "242", "arcs": [[2]], "properties": {"name": "Fiji"}},
    {"type": "Polygon", "id": "010", "arcs": [[3]], "properties": {"name": "Antarctica"}},
    {"type": "Polygon", "arcs": [[1, -1]], "properties": {"name": "No Id"}}
  ]}}
}`

func TestConvert(t *testing.T) {
	out, err := convert([]byte(tinyTopo), "test")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]string{}
	for l := range strings.Lines(string(out)) {
		f := strings.SplitN(strings.TrimSuffix(l, "\n"), "\t", 3)
		if len(f) == 3 {
			lines[f[1]] = f[0] + " " + f[2]
		}
	}
	if _, ok := lines["Antarctica"]; ok {
		t.Error("Antarctica was drawn")
	}
	if !bytes.Contains(out, []byte("\nproj 10 84 -58\n")) {
		t.Error("no proj line")
	}
	// Square: (0,0) → (10,0) → (10,10) then back along arc 1 reversed:
	// (0,10) → (0,0). On the grid: x = (lon+180)*10, y = (84-lat)*10.
	if got, want := lines["Square"], "999 M1800 840l100 0 0-100-100 0z"; got != want {
		t.Errorf("Square = %q, want %q", got, want)
	}
	if got, want := lines["No Id"], "- M1800 840l0-100 100 0 0 100z"; got != want {
		t.Errorf("No Id = %q, want %q", got, want)
	}
	// Fiji, from 178°E across the antimeridian to 178°W: drawn once continuing past the
	// right edge and once shifted to come in from the left, never as a line
	// across the map.
	if got, want := lines["Fiji"], "242 M3580 1040l40 0 0-40-40 0zM-20 1040l40 0 0-40-40 0z"; got != want {
		t.Errorf("Fiji = %q, want %q", got, want)
	}
}

func TestConvertRejects(t *testing.T) {
	for _, bad := range []string{`{`, `{"type":"Feature"}`, `{"type":"Topology","arcs":[],"objects":{"countries":{"geometries":[]}}}`,
		`{"type":"Topology","arcs":[],"objects":{"countries":{"geometries":[{"type":"Polygon","arcs":[[5]]}]}}}`} {
		if _, err := convert([]byte(bad), "x"); err == nil {
			t.Errorf("convert accepted %s", bad)
		}
	}
}

// TestCommittedFile regenerates the committed outlines from the pinned
// source, proving the committed file is exactly this program's output. The
// source is testdata/countries-110m.json (world-atlas@2.0.2's, 105 KB), or
// the npm tarball WORLD_ATLAS names (cd /tmp && npm pack world-atlas@2.0.2).
func TestCommittedFile(t *testing.T) {
	committed, err := os.ReadFile(filepath.Join("..", "..", "..", "web", "map", "countries-110m.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(committed, []byte(sourceSHA256)) {
		t.Errorf("committed outlines do not name the pinned source %s", sourceSHA256)
	}
	in := os.Getenv("WORLD_ATLAS")
	if in == "" {
		in = filepath.Join("testdata", "countries-110m.json")
	}
	src, err := readSource(in)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(src)
	if got := hex.EncodeToString(sum[:]); got != sourceSHA256 {
		t.Fatalf("%s has SHA-256 %s, not the pinned %s", in, got, sourceSHA256)
	}
	out, err := convert(src, hex.EncodeToString(sum[:]))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, committed) {
		t.Error("regenerated outlines differ from web/map/countries-110m.txt: run go generate ./internal/pages")
	}
}
