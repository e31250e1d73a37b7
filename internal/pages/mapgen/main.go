// Command mapgen converts Natural Earth's 110m country outlines, as packaged
// in the npm package world-atlas@2.0.2 (TopoJSON), into the compact outline
// file the pages draw their world map from (web/map/countries-110m.txt).
//
// The conversion is a program rather than a hand edit so anyone can check
// the committed file against its source:
//
//	cd /tmp && npm pack world-atlas@2.0.2
//	go run ./internal/pages/mapgen -in /tmp/world-atlas-2.0.2.tgz -out web/map/countries-110m.txt
//
// (or WORLD_ATLAS=/tmp/world-atlas-2.0.2.tgz go generate ./internal/pages).
// The input's SHA-256 is pinned, so a different release cannot slip in
// unnoticed; -in also accepts the extracted countries-110m.json.
//
// What it does: decodes the quantized, delta-encoded TopoJSON arcs, joins
// them into rings, projects them equirectangularly onto a grid of ten units
// per degree (0.1°, about 11 km, finer than the 110m data itself), crops the
// map to 84°N..58°S (Antarctica is left out: it holds no mirrors and would
// take a fifth of the height), drops points that round onto their
// predecessor, and writes each country as SVG path data with relative integer
// moves. Mirrors' coordinates are projected at runtime with the parameters
// written in the file's "proj" line, so dots and outlines cannot disagree.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// sourceSHA256 is the SHA-256 of package/countries-110m.json in
// world-atlas-2.0.2.tgz.
const sourceSHA256 = "2516c915867c7baf18ddec727aec46c315541a07cfb3d79a6559b05d5e94eee8"

// The projection: x = (lon+180)*scale, y = (north-lat)*scale, for latitudes
// between south and north.
const (
	scale = 10
	north = 84
	south = -58
)

// antarctica is the ISO 3166-1 numeric code left off the map.
const antarctica = "010"

func main() {
	in := flag.String("in", "", "world-atlas-2.0.2.tgz from `npm pack world-atlas@2.0.2`, or its package/countries-110m.json")
	out := flag.String("out", "", "output file (web/map/countries-110m.txt)")
	force := flag.Bool("force", false, "accept an input whose SHA-256 is not the pinned one")
	flag.Parse()
	if *in == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: mapgen -in world-atlas-2.0.2.tgz -out web/map/countries-110m.txt\n(get the input with: npm pack world-atlas@2.0.2)")
		os.Exit(2)
	}
	if err := run(*in, *out, *force); err != nil {
		fmt.Fprintln(os.Stderr, "mapgen:", err)
		os.Exit(1)
	}
}

func run(in, out string, force bool) error {
	src, err := readSource(in)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(src)
	if got := hex.EncodeToString(sum[:]); got != sourceSHA256 && !force {
		return fmt.Errorf("%s: countries-110m.json has SHA-256 %s, want %s (world-atlas@2.0.2); use -force to convert another release", in, got, sourceSHA256)
	}
	b, err := convert(src, hex.EncodeToString(sum[:]))
	if err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// readSource returns countries-110m.json from the npm tarball or as is.
func readSource(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if filepath.Ext(path) == ".json" {
		return io.ReadAll(f)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: no package/countries-110m.json inside", path)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if h.Name == "package/countries-110m.json" {
			return io.ReadAll(io.LimitReader(tr, 16<<20))
		}
	}
}

// topology is the part of a TopoJSON document mapgen reads.
type topology struct {
	Type      string `json:"type"`
	Transform *struct {
		Scale     [2]float64 `json:"scale"`
		Translate [2]float64 `json:"translate"`
	} `json:"transform"`
	Arcs    [][][2]float64 `json:"arcs"`
	Objects struct {
		Countries struct {
			Geometries []geometry `json:"geometries"`
		} `json:"countries"`
	} `json:"objects"`
}

type geometry struct {
	Type       string          `json:"type"`
	ID         string          `json:"id"`
	Arcs       json.RawMessage `json:"arcs"`
	Properties struct {
		Name string `json:"name"`
	} `json:"properties"`
}

// point is a projected grid point; lonLat a point before projection.
type point struct{ x, y int }

type lonLat struct{ lon, lat float64 }

// convert turns the TopoJSON document into the outline file.
func convert(src []byte, sum string) ([]byte, error) {
	var topo topology
	if err := json.Unmarshal(src, &topo); err != nil {
		return nil, fmt.Errorf("parse TopoJSON: %w", err)
	}
	if topo.Type != "Topology" {
		return nil, fmt.Errorf("not a TopoJSON topology (type %q)", topo.Type)
	}
	arcs := decodeArcs(topo)

	type country struct{ id, name, d string }
	var countries []country
	for _, g := range topo.Objects.Countries.Geometries {
		if g.ID == antarctica {
			continue
		}
		var polys [][][]int
		switch g.Type {
		case "Polygon":
			var p [][]int
			if err := json.Unmarshal(g.Arcs, &p); err != nil {
				return nil, fmt.Errorf("%s: %w", g.Properties.Name, err)
			}
			polys = [][][]int{p}
		case "MultiPolygon":
			if err := json.Unmarshal(g.Arcs, &polys); err != nil {
				return nil, fmt.Errorf("%s: %w", g.Properties.Name, err)
			}
		case "", "null":
			continue
		default:
			return nil, fmt.Errorf("%s: unexpected geometry %q", g.Properties.Name, g.Type)
		}
		var d strings.Builder
		for _, poly := range polys {
			for _, ring := range poly {
				pts, err := ringPoints(arcs, ring)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", g.Properties.Name, err)
				}
				for _, copy := range unwrap(pts) {
					writeRing(&d, copy)
				}
			}
		}
		if d.Len() == 0 {
			continue
		}
		id := g.ID
		if id == "" {
			id = "-"
		}
		name := strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return ' '
			}
			return r
		}, g.Properties.Name)
		countries = append(countries, country{id, name, d.String()})
	}
	if len(countries) == 0 {
		return nil, errors.New("no countries in the topology")
	}
	slices.SortFunc(countries, func(a, b country) int { return strings.Compare(a.name, b.name) })

	var b bytes.Buffer
	fmt.Fprintf(&b, "# World country outlines for mirrorkit's mirror map. Generated by internal/pages/mapgen; do not edit.\n")
	fmt.Fprintf(&b, "# Source: Natural Earth 1:110m Admin 0 countries (public domain, https://www.naturalearthdata.com/),\n")
	fmt.Fprintf(&b, "# as TopoJSON in the npm package world-atlas@2.0.2 (ISC licence, (c) Michael Bostock),\n")
	fmt.Fprintf(&b, "# file package/countries-110m.json, SHA-256 %s.\n", sum)
	fmt.Fprintf(&b, "# Antarctica is left out. Projection: equirectangular, x = (lon+180)*scale, y = (north-lat)*scale.\n")
	fmt.Fprintf(&b, "# Lines: \"proj scale north south\", then one country per line: ISO numeric id (- if none) TAB name TAB SVG path data.\n")
	fmt.Fprintf(&b, "proj %d %d %d\n", scale, north, south)
	for _, c := range countries {
		fmt.Fprintf(&b, "%s\t%s\t%s\n", c.id, c.name, c.d)
	}
	return b.Bytes(), nil
}

// decodeArcs undoes TopoJSON's quantization and delta encoding.
func decodeArcs(topo topology) [][]lonLat {
	out := make([][]lonLat, len(topo.Arcs))
	for i, arc := range topo.Arcs {
		pts := make([]lonLat, 0, len(arc))
		var qx, qy float64
		for j, p := range arc {
			lon, lat := p[0], p[1]
			if topo.Transform != nil {
				if j == 0 {
					qx, qy = p[0], p[1]
				} else {
					qx, qy = qx+p[0], qy+p[1]
				}
				lon = qx*topo.Transform.Scale[0] + topo.Transform.Translate[0]
				lat = qy*topo.Transform.Scale[1] + topo.Transform.Translate[1]
			}
			pts = append(pts, lonLat{lon, lat})
		}
		out[i] = pts
	}
	return out
}

// project maps lon/lat onto the grid, clamping to the cropped latitudes.
// Longitudes beyond ±180 (see unwrap) land outside the map, where the SVG
// viewport clips them.
func project(p lonLat) point {
	lat := max(min(p.lat, north), south)
	return point{int(math.Round((p.lon + 180) * scale)), int(math.Round((north - lat) * scale))}
}

// unwrap projects a ring that may cross the antimeridian (Russia, Fiji: the
// TopoJSON is spherical, not cut at ±180). Drawn naively such a ring jumps
// across the whole map, a horizontal line through the world. So it is made
// continuous (each jump of more than 180° in longitude is undone by ±360°)
// and, if it then sticks out of -180..180, drawn a second time shifted by
// 360° back into view: each copy shows the part the other one loses to
// clipping.
func unwrap(ring []lonLat) [][]point {
	if len(ring) == 0 {
		return nil
	}
	cont := make([]lonLat, len(ring))
	shift := 0.0
	lo, hi := ring[0].lon, ring[0].lon
	for i, p := range ring {
		if i > 0 {
			switch d := p.lon + shift - cont[i-1].lon; {
			case d > 180:
				shift -= 360
			case d < -180:
				shift += 360
			}
		}
		cont[i] = lonLat{p.lon + shift, p.lat}
		lo, hi = min(lo, cont[i].lon), max(hi, cont[i].lon)
	}
	copies := [][]lonLat{cont}
	switch {
	case hi > 180:
		copies = append(copies, shifted(cont, -360))
	case lo < -180:
		copies = append(copies, shifted(cont, 360))
	}
	out := make([][]point, len(copies))
	for i, c := range copies {
		pts := make([]point, len(c))
		for j, p := range c {
			pts[j] = project(p)
		}
		out[i] = pts
	}
	return out
}

func shifted(ring []lonLat, by float64) []lonLat {
	out := make([]lonLat, len(ring))
	for i, p := range ring {
		out[i] = lonLat{p.lon + by, p.lat}
	}
	return out
}

// ringPoints joins a ring's arcs; a negative index ~i is arc i reversed, and
// each arc after the first starts where the previous one ended.
func ringPoints(arcs [][]lonLat, ring []int) ([]lonLat, error) {
	var pts []lonLat
	for k, idx := range ring {
		rev := idx < 0
		if rev {
			idx = ^idx
		}
		if idx >= len(arcs) {
			return nil, fmt.Errorf("arc %d out of range (%d arcs)", idx, len(arcs))
		}
		arc := arcs[idx]
		if rev {
			arc = slices.Clone(arc)
			slices.Reverse(arc)
		}
		if k > 0 && len(arc) > 0 {
			arc = arc[1:]
		}
		pts = append(pts, arc...)
	}
	return pts, nil
}

// writeRing appends one closed ring as "M x y l dx dy ... z", dropping points
// that rounded onto their predecessor. A ring that collapses below three
// distinct points is invisible at this scale and left out.
func writeRing(d *strings.Builder, pts []point) {
	var kept []point
	for _, p := range pts {
		if len(kept) == 0 || p != kept[len(kept)-1] {
			kept = append(kept, p)
		}
	}
	if len(kept) > 1 && kept[0] == kept[len(kept)-1] {
		kept = kept[:len(kept)-1]
	}
	if len(kept) < 3 {
		return
	}
	d.WriteString("M")
	d.WriteString(strconv.Itoa(kept[0].x))
	d.WriteByte(' ')
	d.WriteString(strconv.Itoa(kept[0].y))
	d.WriteByte('l')
	prev := kept[0]
	first := true
	for _, p := range kept[1:] {
		writeNum(d, p.x-prev.x, first)
		writeNum(d, p.y-prev.y, false)
		first = false
		prev = p
	}
	d.WriteByte('z')
}

// writeNum writes n, with a separating space unless a minus sign already
// separates it from the number before.
func writeNum(d *strings.Builder, n int, first bool) {
	if !first && n >= 0 {
		d.WriteByte(' ')
	}
	d.WriteString(strconv.Itoa(n))
}
