package redirector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/netstatus"
	"github.com/mirrorkit/mirrorkit/internal/probe"
	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/selection"
	"github.com/mirrorkit/mirrorkit/internal/store"
)

var update = flag.Bool("update", false, "rewrite the API golden files in testdata/")

// apiNow is the fixture's clock: every time in the goldens derives from it.
var apiNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// apiWorld is newWorld with a public picture: "de" up and probed, "us"
// stale by lag (tier 2, trace 50 h old), "jp" down by probes, a disabled
// mirror never scanned, and a private mirror that must appear nowhere.
func apiWorld(t *testing.T, cfg Config) *world {
	t.Helper()
	if cfg.ScanHistory == nil {
		cfg.ScanHistory = func(_ context.Context, name string, limit int) ([]store.ScanRecord, error) {
			if name != "de" {
				return nil, errors.New("store away")
			}
			var out []store.ScanRecord
			for i := range min(limit, 3) {
				end := apiNow.Add(-time.Duration(i+1) * time.Hour)
				rec := store.ScanRecord{StartedAt: end.Add(-42 * time.Second), FinishedAt: end, OK: i != 1,
					Protocol: "rsync", Current: 4, Claimed: 4, Error: map[bool]string{true: "rsync: connection refused"}[i == 1]}
				if rec.OK {
					trace := end.Add(-time.Duration(2+i) * time.Hour)
					rec.TraceTime = &trace
				}
				out = append(out, rec)
			}
			return out, nil
		}
	}
	if cfg.ProbeHistory == nil {
		// Two rounds of "de": its HTTPS over IPv4 failed once between
		// them, its HTTP always answered; the probed URL stays private.
		cfg.ProbeHistory = func(name string) []probe.Result {
			if name != "de" {
				return nil
			}
			tg := func(p registry.Protocol) probe.Target {
				return probe.Target{MirrorID: 1, Protocol: p, Family: probe.IPv4, URL: "https://secret-probe.example/", Path: "/TIME"}
			}
			return []probe.Result{
				{Target: tg(registry.HTTPS), At: apiNow.Add(-90 * time.Second), OK: true, Latency: 21 * time.Millisecond},
				{Target: tg(registry.HTTP), At: apiNow.Add(-90 * time.Second), OK: true, Latency: 19 * time.Millisecond},
				{Target: tg(registry.HTTPS), At: apiNow.Add(-40 * time.Second), Reason: "timeout after 10s", Class: "timeout", Latency: 10 * time.Second},
				{Target: tg(registry.HTTPS), At: apiNow.Add(-30 * time.Second), OK: true, Latency: 23400 * time.Microsecond},
				{Target: tg(registry.HTTP), At: apiNow.Add(-30 * time.Second), OK: true, Latency: 20 * time.Millisecond},
			}
		}
	}
	cfg.Locate = locateByPrefix
	cfg.Now = func() time.Time { return apiNow }
	w := newWorld(t, cfg)
	w.mirrors[1].Tier = 2
	off := registry.NewMirror("off", "site")
	off.ID, off.Enabled, off.DisabledReason = 4, false, "owner's private reason"
	off.URLs.HTTP, off.Location = "http://off.example/", registry.Location{Country: "FR", Continent: "EU"}
	hidden := registry.NewMirror("hidden", "site")
	hidden.ID, hidden.Public, hidden.PrivateNotes = 5, false, "secret"
	hidden.URLs.HTTP = "http://hidden.example/"
	mirrors := append(slices.Clone(w.mirrors), off, hidden)
	good := func(ago time.Duration, trace time.Duration) netstatus.ScanInfo {
		end := apiNow.Add(-ago)
		tr := apiNow.Add(-trace)
		return netstatus.ScanInfo{LastGood: end, Latest: store.ScanRecord{StartedAt: end.Add(-42 * time.Second), FinishedAt: end,
			OK: true, Protocol: "rsync", Current: 3, Stale: 1, Claimed: 4, TraceTime: &tr}}
	}
	h := func(id int64, p registry.Protocol, f probe.Family, up bool, reason string) probe.Health {
		return probe.Health{Key: probe.Key{MirrorID: id, Protocol: p, Family: f}, Known: true, Up: up,
			Since: apiNow.Add(-2 * time.Hour), Last: apiNow.Add(-30 * time.Second), Latency: 23400 * time.Microsecond, Reason: reason}
	}
	n := netstatus.Build(netstatus.Inputs{
		Now: apiNow, Mirrors: mirrors,
		Sites: []registry.Site{{Name: "site", Sponsor: "Example University", SponsorURL: "https://uni.example/",
			Contacts: []string{"ops@uni.example"}, PrivateNotes: "private"}},
		Scans: map[int64]netstatus.ScanInfo{1: good(time.Hour, 3*time.Hour), 2: good(time.Hour, 50*time.Hour),
			3: good(2*time.Hour, 4*time.Hour), 5: good(time.Hour, time.Hour)},
		Probes: map[int64][]probe.Health{
			1: {h(1, registry.HTTPS, probe.IPv4, true, ""), h(1, registry.HTTP, probe.IPv4, true, "")},
			3: {h(3, registry.HTTPS, probe.IPv4, false, "TLS certificate expired or not yet valid")},
		},
		Files:        w.srv.state.Load().cat.files,
		CatalogBuilt: apiNow.Add(-6 * time.Hour),
		Freshness:    netstatus.Freshness{MaxAge: 24 * time.Hour, MaxLag: []time.Duration{24 * time.Hour, 26 * time.Hour, 48 * time.Hour, 72 * time.Hour}},
	})
	w.srv.SetNetwork(n)
	// The selection state agrees with the picture, as the Loader makes it:
	// "us" stale by lag, "jp" down.
	snap := w.inv.Snapshot()
	var ms []selection.Mirror
	for _, m := range w.mirrors {
		slot, _ := snap.Slot(m.ID)
		st := selection.State{Fresh: true}
		switch m.Name {
		case "us":
			st = selection.State{StaleReason: "trace 2 d 2 h old, over tier 2's maximum lag of 2 d"}
		case "jp":
			st = selection.State{Fresh: true, Probed: true}
		}
		ms = append(ms, selection.Mirror{Mirror: m, Slot: slot, State: st})
	}
	tb, err := selection.NewTable(ms)
	if err != nil {
		t.Fatal(err)
	}
	w.srv.SetState(NewState(tb, snap, NewCatalog(w.entries), nil))
	return w
}

type apiCase struct {
	name, method, target string
	code                 int
	// schema names the response's schema in the OpenAPI document by path
	// template and status.
	path string
}

var apiCases = []apiCase{
	{"status", "GET", "/api/v1/status", 200, "/api/v1/status"},
	{"mirrors", "GET", "/api/v1/mirrors", 200, "/api/v1/mirrors"},
	{"mirror", "GET", "/api/v1/mirrors/de", 200, "/api/v1/mirrors/{name}"},
	{"mirror-history-unavailable", "GET", "/api/v1/mirrors/us", 200, "/api/v1/mirrors/{name}"},
	{"file", "GET", "/api/v1/files/pub/x.iso", 200, "/api/v1/files/{path}"},
	{"file-escaped", "GET", "/api/v1/files/pub/with%20space.iso", 200, "/api/v1/files/{path}"},
	{"private-mirror", "GET", "/api/v1/mirrors/hidden", 404, "/api/v1/mirrors/{name}"},
	{"unknown-mirror", "GET", "/api/v1/mirrors/nope", 404, "/api/v1/mirrors/{name}"},
	{"staged-file", "GET", "/api/v1/files/pub/staged/s.iso", 404, "/api/v1/files/{path}"},
	{"directory", "GET", "/api/v1/files/pub", 404, "/api/v1/files/{path}"},
	{"traversal", "GET", "/api/v1/files/pub/%2e%2e/x.iso", 400, "/api/v1/files/{path}"},
	{"post", "POST", "/api/v1/mirrors", 405, "/api/v1/mirrors"},
	{"unknown-route", "GET", "/api/v1/frobnicate", 404, ""},
	{"unknown-version", "GET", "/api/v9/status", 404, ""},
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", "api-"+name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", file, got, want)
	}
}

// TestAPIGolden answers every route on the fixture and compares status,
// the headers that make the API's contract, and the body with a golden
// file; each body is also checked against the OpenAPI document.
func TestAPIGolden(t *testing.T) {
	w := apiWorld(t, Config{})
	doc := loadOpenAPI(t)
	for _, c := range apiCases {
		t.Run(c.name, func(t *testing.T) {
			rec := do(t, w.srv, c.method, c.target, "192.0.2.9:1")
			if rec.Code != c.code {
				t.Fatalf("%s %s: %d, want %d: %s", c.method, c.target, rec.Code, c.code, rec.Body)
			}
			var out bytes.Buffer
			fmt.Fprintf(&out, "%s %s\nHTTP %d\n", c.method, c.target, rec.Code)
			for _, k := range []string{"Content-Type", "Cache-Control", "Access-Control-Allow-Origin", "Allow"} {
				if v := rec.Header().Get(k); v != "" {
					fmt.Fprintf(&out, "%s: %s\n", k, v)
				}
			}
			out.WriteString("\n")
			out.Write(rec.Body.Bytes())
			golden(t, c.name, out.Bytes())

			if rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
				t.Fatalf("headers %v", rec.Header())
			}
			var body any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			schema := doc.errorSchema()
			if c.path != "" {
				schema = doc.response(t, c.path, c.code)
			}
			if errs := doc.validate(schema, body, "$"); len(errs) > 0 {
				t.Fatalf("response does not match the OpenAPI document:\n%s", strings.Join(errs, "\n"))
			}
		})
	}
}

func TestAPINeverShowsPrivateData(t *testing.T) {
	w := apiWorld(t, Config{})
	for _, c := range apiCases {
		body := do(t, w.srv, "GET", c.target, "192.0.2.9:1").Body.String()
		for _, secret := range []string{"hidden", "secret", "private reason", "ops@uni", "\"private\""} {
			if strings.Contains(body, secret) && c.name != "private-mirror" {
				t.Errorf("%s shows %q: %s", c.target, secret, body)
			}
		}
	}
}

func TestAPIBeforeFirstRefresh(t *testing.T) {
	srv, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/api/v1/status", "/api/v1/files/pub/x.iso"} {
		rec := do(t, srv, "GET", target, "192.0.2.9:1")
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Fatalf("%s: %d %s", target, rec.Code, rec.Body)
		}
	}
	// The document needs no state.
	if rec := do(t, srv, "GET", "/api/v1/openapi.json", "192.0.2.9:1"); rec.Code != 200 {
		t.Fatalf("openapi.json: %d", rec.Code)
	}
}

func TestAPIHeadAndDownloadsUnaffected(t *testing.T) {
	w := apiWorld(t, Config{})
	if rec := do(t, w.srv, "HEAD", "/api/v1/status", "192.0.2.9:1"); rec.Code != 200 {
		t.Fatalf("HEAD: %d", rec.Code)
	}
	// A download still redirects: the API's prefix takes nothing else.
	if rec := do(t, w.srv, "GET", "/pub/x.iso", "192.0.2.9:1"); rec.Code != http.StatusFound ||
		!strings.HasPrefix(rec.Header().Get("Location"), "http://de.example.org/") {
		t.Fatalf("download: %d %v", rec.Code, rec.Header())
	}
	// The stale mirror is out of downloads, and says why.
	for range 20 {
		if rec := do(t, w.srv, "GET", "/pub/x.iso", "198.51.100.9:1"); strings.Contains(rec.Header().Get("Location"), "us.example") {
			t.Fatal("a mirror stale by lag got a redirect")
		}
	}
}

// openAPI is the parsed document with a validator for the subset of JSON
// Schema it uses: $ref, type, const, enum, properties, required,
// additionalProperties, items, minimum/maximum, maxItems.
type openAPI struct {
	Paths      map[string]map[string]map[string]any `json:"paths"`
	Components struct {
		Schemas map[string]map[string]any `json:"schemas"`
	} `json:"components"`
}

func loadOpenAPI(t *testing.T) *openAPI {
	t.Helper()
	var doc openAPI
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	var top map[string]any
	_ = json.Unmarshal(openAPIDoc, &top)
	if top["openapi"] != "3.1.0" {
		t.Fatalf("openapi version %v", top["openapi"])
	}
	return &doc
}

func (d *openAPI) errorSchema() map[string]any {
	return map[string]any{"$ref": "#/components/schemas/Error"}
}

// response finds the schema the document promises for path and status.
func (d *openAPI) response(t *testing.T, path string, code int) map[string]any {
	t.Helper()
	op, ok := d.Paths[path]["get"]
	if !ok {
		t.Fatalf("no GET %s in the document", path)
	}
	resp, ok := op["responses"].(map[string]any)[fmt.Sprint(code)].(map[string]any)
	if !ok {
		t.Fatalf("GET %s: no %d response in the document", path, code)
	}
	return resp["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
}

func (d *openAPI) resolve(s map[string]any) map[string]any {
	for {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		s = d.Components.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")]
	}
}

func (d *openAPI) validate(s map[string]any, v any, at string) []string {
	s = d.resolve(s)
	if s == nil {
		return []string{at + ": dangling $ref"}
	}
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, at+": "+fmt.Sprintf(format, args...)) }
	if c, ok := s["const"]; ok && c != v {
		fail("%v is not %v", v, c)
	}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, v) {
		fail("%v is not one of %v", v, enum)
	}
	switch typ, _ := s["type"].(string); typ {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			fail("want an object, got %T", v)
			break
		}
		props, _ := s["properties"].(map[string]any)
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := obj[r.(string)]; !ok {
				fail("required field %q missing", r)
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ps, ok := props[k].(map[string]any); ok {
				errs = append(errs, d.validate(ps, obj[k], at+"."+k)...)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					fail("field %q is not in the document", k)
				}
			case map[string]any:
				errs = append(errs, d.validate(ap, obj[k], at+"."+k)...)
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			fail("want an array, got %T", v)
			break
		}
		if m, ok := s["maxItems"].(float64); ok && float64(len(arr)) > m {
			fail("%d items, at most %v", len(arr), m)
		}
		for i, item := range arr {
			errs = append(errs, d.validate(s["items"].(map[string]any), item, fmt.Sprintf("%s[%d]", at, i))...)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			fail("want a string, got %T", v)
		} else if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339, str); err != nil {
				fail("not a date-time: %q", str)
			}
		}
	case "integer", "number":
		f, ok := v.(float64)
		if !ok {
			fail("want a number, got %T", v)
			break
		}
		if typ == "integer" && f != float64(int64(f)) {
			fail("want an integer, got %v", f)
		}
		if m, ok := s["minimum"].(float64); ok && f < m {
			fail("%v below %v", f, m)
		}
		if m, ok := s["maximum"].(float64); ok && f > m {
			fail("%v above %v", f, m)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			fail("want a boolean, got %T", v)
		}
	}
	return errs
}

// TestOpenAPIMatchesTypes holds the document to the Go types the handlers
// encode: the same field names, and "required" exactly for the fields that
// are always present (no omitempty or omitzero). A field added to a type
// without the document fails here.
func TestOpenAPIMatchesTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	for name, typ := range map[string]reflect.Type{
		"Status": reflect.TypeFor[APIStatus](), "MirrorsResponse": reflect.TypeFor[APIMirrors](),
		"MirrorResponse": reflect.TypeFor[APIMirror](), "Error": reflect.TypeFor[APIError](),
		"Mirror": reflect.TypeFor[netstatus.Mirror](), "Scan": reflect.TypeFor[netstatus.Scan](),
		"Probe": reflect.TypeFor[netstatus.Probe](), "MirrorList": reflect.TypeFor[MirrorList](),
		"ListClient": reflect.TypeFor[ListClient](), "ListedMirror": reflect.TypeFor[ListedMirror](),
		"Excluded": reflect.TypeFor[Excluded](), "ProbeResult": reflect.TypeFor[netstatus.ProbeResult](),
	} {
		s := doc.Components.Schemas[name]
		if s == nil {
			t.Errorf("no schema %s", name)
			continue
		}
		var fields, required []string
		for _, f := range reflect.VisibleFields(typ) {
			if f.Anonymous {
				continue // its fields are promoted, and listed on their own
			}
			tag, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			fields = append(fields, tag)
			if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
				required = append(required, tag)
			}
		}
		var props, req []string
		for k := range s["properties"].(map[string]any) {
			props = append(props, k)
		}
		for _, r := range s["required"].([]any) {
			req = append(req, r.(string))
		}
		for _, l := range [][]string{fields, required, props, req} {
			slices.Sort(l)
		}
		if !slices.Equal(fields, props) {
			t.Errorf("%s: type has %v, document %v", name, fields, props)
		}
		if !slices.Equal(required, req) {
			t.Errorf("%s: always present %v, document requires %v", name, required, req)
		}
	}
}
