package country

import (
	"slices"
	"strings"
	"testing"
)

func TestTableShape(t *testing.T) {
	all := All()
	// 249 officially assigned ISO 3166-1 alpha-2 codes plus XK.
	if len(all) != 250 {
		t.Fatalf("len(All()) = %d, want 250", len(all))
	}
	seen := make(map[string]bool, len(all))
	names := make(map[string]string, len(all))
	for i, c := range all {
		if len(c.Code) != 2 || c.Code[0] < 'A' || c.Code[0] > 'Z' || c.Code[1] < 'A' || c.Code[1] > 'Z' {
			t.Errorf("code %q is not two upper-case ASCII letters", c.Code)
		}
		if seen[c.Code] {
			t.Errorf("duplicate code %q", c.Code)
		}
		seen[c.Code] = true
		if i > 0 && all[i-1].Code >= c.Code {
			t.Errorf("All() not sorted: %q before %q", all[i-1].Code, c.Code)
		}
		if !slices.Contains(Continents(), c.Continent) {
			t.Errorf("%s: continent %q is not one of the seven", c.Code, c.Continent)
		}
		if c.Name == "" || strings.TrimSpace(c.Name) != c.Name {
			t.Errorf("%s: bad name %q", c.Code, c.Name)
		}
		if other, dup := names[c.Name]; dup {
			t.Errorf("name %q used by both %s and %s", c.Name, other, c.Code)
		}
		names[c.Name] = c.Code
		got, ok := Lookup(c.Code)
		if !ok || got != c {
			t.Errorf("Lookup(%q) = %+v, %v; want %+v, true", c.Code, got, ok, c)
		}
	}
	for _, cont := range Continents() {
		if !slices.ContainsFunc(all, func(c Country) bool { return c.Continent == cont }) {
			t.Errorf("no country on %s", cont)
		}
	}
}

func TestAllReturnsCopy(t *testing.T) {
	a := All()
	a[0] = Country{Code: "ZZ", Name: "Nowhere", Continent: Europe}
	if All()[0].Code == "ZZ" {
		t.Fatal("modifying All()'s result changed the table")
	}
	if c, ok := Lookup("AD"); !ok || c.Name != "Andorra" {
		t.Fatalf("Lookup(AD) = %+v, %v after modifying All()", c, ok)
	}
}

func TestSpotChecks(t *testing.T) {
	tests := []struct {
		code string
		name string // "" means do not check
		cont Continent
	}{
		{"DE", "Germany", Europe},
		{"US", "", NorthAmerica},
		{"BR", "", SouthAmerica},
		{"JP", "", Asia},
		{"AU", "", Oceania},
		{"ZA", "", Africa},
		{"AQ", "", Antarctica},
		{"XK", "Kosovo", Europe},
		{"RU", "", Europe},
		{"EG", "", Africa},
		{"MX", "", NorthAmerica},
		{"NZ", "", Oceania},
		{"IN", "", Asia},
		// Cases where MaxMind differs from a naive atlas reading.
		{"TR", "", Asia},
		{"CY", "", Europe},
		{"GE", "", Asia},
		{"AM", "", Asia},
		{"AZ", "", Asia},
		{"KZ", "", Asia},
		{"GL", "", NorthAmerica},
		{"PA", "", NorthAmerica},
		{"TT", "", NorthAmerica},
		{"UM", "", Oceania},
		{"IO", "", Asia},
		{"SH", "", Africa},
		{"BV", "", Antarctica},
		{"GS", "", Antarctica},
		{"HM", "", Antarctica},
		{"TF", "", Antarctica},
		{"TW", "", Asia},
		{"GB", "United Kingdom", Europe},
	}
	for _, tt := range tests {
		c, ok := Lookup(tt.code)
		if !ok {
			t.Errorf("Lookup(%q) not found", tt.code)
			continue
		}
		if c.Code != tt.code || c.Continent != tt.cont || (tt.name != "" && c.Name != tt.name) {
			t.Errorf("Lookup(%q) = %+v, want continent %s name %q", tt.code, c, tt.cont, tt.name)
		}
		if cont, ok := ContinentOf(tt.code); !ok || cont != tt.cont {
			t.Errorf("ContinentOf(%q) = %q, %v; want %q, true", tt.code, cont, ok, tt.cont)
		}
		if !Valid(tt.code) {
			t.Errorf("Valid(%q) = false", tt.code)
		}
	}
}

func TestHostileCodes(t *testing.T) {
	// UK, EU, A1 and friends appear in old GeoIP data and user input but are
	// not countries; accepting them would let mirrors register nowhere.
	for _, code := range []string{
		"", "d", "de", "De", "dE", "DEU", "ZZ", "UK", "EU", "AP", "A1", "A2", "O1",
		"D\x00", "\x00\x00", "ÄÖ", "\xff\xff", "D ", " D", "@A", "[A", "A[", "`a",
	} {
		if c, ok := Lookup(code); ok || c != (Country{}) {
			t.Errorf("Lookup(%q) = %+v, %v; want zero, false", code, c, ok)
		}
		if Valid(code) {
			t.Errorf("Valid(%q) = true", code)
		}
		if cont, ok := ContinentOf(code); ok || cont != "" {
			t.Errorf("ContinentOf(%q) = %q, %v; want \"\", false", code, cont, ok)
		}
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{" de ", "DE", true},
		{"de ", "DE", true},
		{"DE", "DE", true},
		{"\tgB\n", "GB", true},
		{"xk", "XK", true},
		{"zz", "ZZ", false},
		{"uk", "UK", false},
		{"deu", "DEU", false},
		{"", "", false},
		{"   ", "", false},
		{"d e", "D E", false},
		{"äö", "äö", false}, // non-ASCII is not folded
	}
	for _, tt := range tests {
		got, ok := Normalize(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Normalize(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestContinent(t *testing.T) {
	want := []Continent{"AF", "AN", "AS", "EU", "NA", "OC", "SA"}
	got := Continents()
	if !slices.Equal(got, want) {
		t.Fatalf("Continents() = %v, want %v", got, want)
	}
	got[0] = "XX"
	if Continents()[0] != Africa {
		t.Fatal("Continents() returned a shared slice")
	}
	names := map[Continent]string{
		Africa: "Africa", Antarctica: "Antarctica", Asia: "Asia", Europe: "Europe",
		NorthAmerica: "North America", Oceania: "Oceania", SouthAmerica: "South America",
	}
	for c, name := range names {
		if !c.Valid() || c.Name() != name {
			t.Errorf("%q: Valid=%v Name=%q, want true %q", c, c.Valid(), c.Name(), name)
		}
	}
	for _, c := range []Continent{"", "af", "EA", "AM", "Europe"} {
		if c.Valid() || c.Name() != "" {
			t.Errorf("%q: Valid=%v Name=%q, want false \"\"", c, c.Valid(), c.Name())
		}
	}
}

func TestBuildIndexRejectsBadTables(t *testing.T) {
	for name, table := range map[string][]Country{
		"unsorted":   {{"DE", "Germany", Europe}, {"AT", "Austria", Europe}},
		"duplicate":  {{"DE", "Germany", Europe}, {"DE", "Germany", Europe}},
		"lower case": {{"de", "Germany", Europe}},
		"too long":   {{"DEU", "Germany", Europe}},
		"no name":    {{"DE", "", Europe}},
		"continent":  {{"DE", "Germany", "XX"}},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("buildIndex accepted a malformed table")
				}
			}()
			buildIndex(table)
		})
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	var sink Country
	allocs := testing.AllocsPerRun(1000, func() {
		sink, _ = Lookup("DE")
		_, _ = Lookup("ZZ")
		_, _ = Lookup("ÄÖ")
		_ = Valid("XK")
		_, _ = ContinentOf("JP")
	})
	if allocs != 0 {
		t.Errorf("Lookup allocates %v times per run, want 0", allocs)
	}
	_ = sink
	if allocs := testing.AllocsPerRun(1000, func() { _, _ = Normalize(" de ") }); allocs != 0 {
		t.Errorf("Normalize of a valid code allocates %v times per run, want 0", allocs)
	}
}

var benchSink Country

func BenchmarkLookup(b *testing.B) {
	codes := []string{"DE", "US", "ZZ", "jp", "XK", "DEU"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		benchSink, _ = Lookup(codes[i%len(codes)])
	}
}

func FuzzLookup(f *testing.F) {
	for _, s := range []string{"", "DE", "de", " de ", "ZZ", "XK", "ÄÖ", "\xff\xff", "D\x00", "DEU"} {
		f.Add(s)
	}
	all := All()
	f.Fuzz(func(t *testing.T, code string) {
		c, ok := Lookup(code)
		if ok {
			if c.Code != code {
				t.Fatalf("Lookup(%q) returned code %q", code, c.Code)
			}
			if _, found := slices.BinarySearchFunc(all, code, func(c Country, code string) int {
				return strings.Compare(c.Code, code)
			}); !found {
				t.Fatalf("Lookup(%q) found a code missing from All()", code)
			}
		} else if c != (Country{}) {
			t.Fatalf("Lookup(%q) = %+v with ok=false", code, c)
		}
		if Valid(code) != ok {
			t.Fatalf("Valid(%q) disagrees with Lookup", code)
		}
		norm, nok := Normalize(code)
		if nok != Valid(norm) {
			t.Fatalf("Normalize(%q) = %q, %v but Valid(%q) = %v", code, norm, nok, norm, Valid(norm))
		}
		if ok && (norm != code || !nok) {
			t.Fatalf("Normalize(%q) = %q, %v; a valid code must be a fixed point", code, norm, nok)
		}
	})
}
