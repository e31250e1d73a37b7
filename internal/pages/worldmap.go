package pages

import (
	"bufio"
	"bytes"
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"

	"github.com/mirrorkit/mirrorkit/internal/netstatus"
)

// outlines are the map's country shapes, parsed once from the generated
// file (web/map/countries-110m.txt, see mapgen) together with the projection
// they were drawn in.
type outlines struct {
	scale, north, south float64
	width, height       int
	// paths is the countries as SVG <path> elements, escaped once here
	// rather than on every render: 46 KB of path data is most of the map.
	paths   template.HTML
	country int // how many countries
}

// parseOutlines reads the generated outline file.
func parseOutlines(b []byte) (*outlines, error) {
	o := &outlines{}
	var paths strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	line := 0
	for sc.Scan() {
		line++
		t := sc.Text()
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if rest, ok := strings.CutPrefix(t, "proj "); ok {
			f := strings.Fields(rest)
			if len(f) != 3 {
				return nil, fmt.Errorf("map outlines line %d: want proj scale north south", line)
			}
			var v [3]float64
			for i, s := range f {
				x, err := strconv.ParseFloat(s, 64)
				if err != nil {
					return nil, fmt.Errorf("map outlines line %d: %w", line, err)
				}
				v[i] = x
			}
			o.scale, o.north, o.south = v[0], v[1], v[2]
			if o.scale <= 0 || o.north <= o.south {
				return nil, fmt.Errorf("map outlines line %d: bad projection %q", line, rest)
			}
			continue
		}
		f := strings.SplitN(t, "\t", 3)
		if len(f) != 3 || o.scale == 0 {
			return nil, fmt.Errorf("map outlines line %d: want id TAB name TAB path after a proj line", line)
		}
		if strings.ContainsAny(f[2], `"<>&`) {
			return nil, fmt.Errorf("map outlines line %d: path data with markup characters", line)
		}
		fmt.Fprintf(&paths, "<path d=\"%s\"><title>%s</title></path>", f[2], html.EscapeString(f[1]))
		o.country++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("map outlines: %w", err)
	}
	if o.country == 0 {
		return nil, fmt.Errorf("map outlines: no countries")
	}
	o.width = int(math.Round(360 * o.scale))
	o.height = int(math.Round((o.north - o.south) * o.scale))
	o.paths = template.HTML(paths.String())
	return o, nil
}

// project places a coordinate on the map the way mapgen placed the
// outlines, clamping what lies beyond the cropped latitudes to the edge.
func (o *outlines) project(lat, lon float64) (x, y float64) {
	lat = max(min(lat, o.north), o.south)
	lon = max(min(lon, 180), -180)
	return round1((lon + 180) * o.scale), round1((o.north - lat) * o.scale)
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// mapView is what the "map" template draws.
type mapView struct {
	Width, Height int
	// DisplayW and DisplayH are the SVG's own size, a third of the map
	// units: what map.svg opens at. The list page's CSS fits it to the page.
	DisplayW, DisplayH int
	Label              string
	Countries          template.HTML
	Dots               []dotView
	Legend             []legendView
	// Unplaced counts mirrors without coordinates.
	Unplaced int
	// Standalone draws the legend inside the SVG, for map.svg on its own;
	// the list page shows a legend in HTML, readable at phone size.
	Standalone bool
	LegendY    int
	LegendW    int
	LegendH    int
}

type dotView struct {
	Name  string
	X, Y  float64
	R     float64
	State stateView
	Title string
	Href  string
}

type legendView struct {
	State        stateView
	Count        int
	X, Y         int
	TextX, TextY int
}

// dotRadius is in map units (scale units per degree: 10 → 3600 wide), about
// five pixels at the list page's width; style.css enlarges dots on phones.
const dotRadius = 14

// buildMap places one dot per mirror with coordinates, in the model's order
// but with up mirrors last so that, where dots overlap, the ones that get
// clients stay visible on top of dead ones nearby.
func (h *handler) buildMap(n *netstatus.Network, standalone bool) mapView {
	o := h.outlines
	v := mapView{
		Width: o.width, Height: o.height,
		DisplayW: o.width / 3, DisplayH: o.height / 3,
		Countries:  o.paths,
		Standalone: standalone,
	}
	counts := countStates(n)
	var up, other []dotView
	for _, m := range n.Mirrors {
		if m.Latitude == nil || m.Longitude == nil || !finite(*m.Latitude) || !finite(*m.Longitude) {
			v.Unplaced++
			continue
		}
		x, y := o.project(*m.Latitude, *m.Longitude)
		st := viewState(m.State)
		where := m.City
		if c := countryName(m.Country); c != "" {
			if where != "" {
				where += ", "
			}
			where += c
		}
		title := m.Name + " — " + st.Label
		if where != "" {
			title += " (" + where + ")"
		}
		d := dotView{Name: m.Name, X: x, Y: y, R: dotRadius, State: st, Title: title, Href: h.mirrorHref(m.Name)}
		if m.State == netstatus.Up {
			up = append(up, d)
		} else {
			other = append(other, d)
		}
	}
	v.Dots = append(other, up...)
	const row = 44
	for i, s := range orderedStates() {
		y := o.height - 30 - (len(orderedStates())-i)*row
		v.Legend = append(v.Legend, legendView{
			State: viewState(s), Count: counts[s],
			X: 30, Y: y, TextX: 70, TextY: y + 26,
		})
	}
	v.LegendY = o.height - 30 - len(orderedStates())*row - 20
	v.LegendW = 380
	v.LegendH = len(orderedStates())*row + 30
	v.Label = fmt.Sprintf("World map of %d mirrors", len(n.Mirrors)-v.Unplaced)
	var parts []string
	for _, l := range v.Legend {
		if l.Count > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", l.Count, l.State.Label))
		}
	}
	if len(parts) > 0 {
		v.Label += ": " + strings.Join(parts, ", ")
	}
	return v
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
