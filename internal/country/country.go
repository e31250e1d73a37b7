package country

import (
	"fmt"
	"slices"
	"strings"
)

// Continent is a two-letter continent code as used by MaxMind/DB-IP: AF AN AS
// EU NA OC SA.
type Continent string

// The seven continent codes used by GeoIP databases.
const (
	Africa       Continent = "AF"
	Antarctica   Continent = "AN"
	Asia         Continent = "AS"
	Europe       Continent = "EU"
	NorthAmerica Continent = "NA"
	Oceania      Continent = "OC"
	SouthAmerica Continent = "SA"
)

// Valid reports whether c is one of the seven continent codes.
func (c Continent) Valid() bool { return c.Name() != "" }

// Name returns the English name of the continent, or "" if c is not valid.
func (c Continent) Name() string {
	switch c {
	case Africa:
		return "Africa"
	case Antarctica:
		return "Antarctica"
	case Asia:
		return "Asia"
	case Europe:
		return "Europe"
	case NorthAmerica:
		return "North America"
	case Oceania:
		return "Oceania"
	case SouthAmerica:
		return "South America"
	}
	return ""
}

// Continents returns the seven continents. The slice is freshly allocated so
// callers cannot corrupt it for others.
func Continents() []Continent {
	return []Continent{Africa, Antarctica, Asia, Europe, NorthAmerica, Oceania, SouthAmerica}
}

// Country is one entry of the table.
type Country struct {
	Code      string    // ISO 3166-1 alpha-2, upper case, e.g. "DE"
	Name      string    // English short name, e.g. "Germany"
	Continent Continent // MaxMind continent code, e.g. "EU"
}

// Lookup returns the country with the given code. The code must be exactly
// two upper-case ASCII letters; use Normalize for user input.
func Lookup(code string) (Country, bool) {
	if len(code) != 2 {
		return Country{}, false
	}
	return lookup(code[0], code[1])
}

// lookup works on bytes so that Normalize can probe the table without first
// building an upper-cased string.
func lookup(a, b byte) (Country, bool) {
	i, ok := slot(a, b)
	if !ok || index[i] == 0 {
		return Country{}, false
	}
	return countries[index[i]-1], true
}

// Valid reports whether code is in the table.
func Valid(code string) bool {
	_, ok := Lookup(code)
	return ok
}

// ContinentOf returns the continent of the country with the given code.
func ContinentOf(code string) (Continent, bool) {
	c, ok := Lookup(code)
	return c.Continent, ok
}

// All returns every country sorted by code. The slice is a copy, so the caller
// may sort or modify it without affecting lookups.
func All() []Country {
	return slices.Clone(countries)
}

// Normalize turns user input into a canonical code: surrounding white space is
// trimmed and ASCII letters are upper-cased (non-ASCII is left alone so that
// look-alike letters cannot sneak in). It reports whether the result is a
// known country; the normalized string is returned either way so that callers
// can echo it in error messages.
func Normalize(code string) (string, bool) {
	s := strings.TrimSpace(code)
	if len(s) == 2 {
		// Fast path: valid input hands back the table's own string, so the
		// common case does not allocate.
		if c, ok := lookup(upper(s[0]), upper(s[1])); ok {
			return c.Code, true
		}
	}
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' {
			return r - ('a' - 'A')
		}
		return r
	}, s), false
}

func upper(b byte) byte {
	if 'a' <= b && b <= 'z' {
		return b - ('a' - 'A')
	}
	return b
}

// slot maps two upper-case letters to their position in the index.
func slot(a, b byte) (int, bool) {
	// Bytes below 'A' wrap around to large values, so one comparison per byte
	// rejects everything outside A-Z, including UTF-8 lead and continuation
	// bytes.
	a, b = a-'A', b-'A'
	if a >= 26 || b >= 26 {
		return 0, false
	}
	return int(a)*26 + int(b), true
}

// index maps slot(code) to 1+position in countries; 0 means "no such code".
// A dense array rather than a map keeps lookups free of hashing and lets the
// zero value mean absent.
var index = buildIndex(countries)

// buildIndex panics on a malformed table: the table is a compile-time
// constant, so a bad edit should stop every binary and test at start-up
// rather than silently shadow or drop an entry.
func buildIndex(table []Country) *[26 * 26]uint8 {
	if len(table) > 255 {
		panic(fmt.Sprintf("country: table has %d entries, index holds at most 255", len(table)))
	}
	var idx [26 * 26]uint8
	for i, c := range table {
		if len(c.Code) != 2 {
			panic(fmt.Sprintf("country: malformed code %q", c.Code))
		}
		s, ok := slot(c.Code[0], c.Code[1])
		if !ok {
			panic(fmt.Sprintf("country: malformed code %q", c.Code))
		}
		if i > 0 && table[i-1].Code >= c.Code {
			panic(fmt.Sprintf("country: table not strictly sorted at %q", c.Code))
		}
		if c.Name == "" || !c.Continent.Valid() {
			panic(fmt.Sprintf("country: incomplete entry %q", c.Code))
		}
		idx[s] = uint8(i + 1)
	}
	return &idx
}

// countries must stay sorted by Code; buildIndex enforces it. Continents are
// MaxMind's, which differ from some atlases: TR, GE, AM, AZ and KZ are Asia
// while RU and CY are Europe, Central America and the Caribbean are North
// America, and the uninhabited southern islands are Antarctica.
var countries = []Country{
	{"AD", "Andorra", Europe},
	{"AE", "United Arab Emirates", Asia},
	{"AF", "Afghanistan", Asia},
	{"AG", "Antigua and Barbuda", NorthAmerica},
	{"AI", "Anguilla", NorthAmerica},
	{"AL", "Albania", Europe},
	{"AM", "Armenia", Asia},
	{"AO", "Angola", Africa},
	{"AQ", "Antarctica", Antarctica},
	{"AR", "Argentina", SouthAmerica},
	{"AS", "American Samoa", Oceania},
	{"AT", "Austria", Europe},
	{"AU", "Australia", Oceania},
	{"AW", "Aruba", NorthAmerica},
	{"AX", "Åland Islands", Europe},
	{"AZ", "Azerbaijan", Asia},
	{"BA", "Bosnia and Herzegovina", Europe},
	{"BB", "Barbados", NorthAmerica},
	{"BD", "Bangladesh", Asia},
	{"BE", "Belgium", Europe},
	{"BF", "Burkina Faso", Africa},
	{"BG", "Bulgaria", Europe},
	{"BH", "Bahrain", Asia},
	{"BI", "Burundi", Africa},
	{"BJ", "Benin", Africa},
	{"BL", "Saint Barthélemy", NorthAmerica},
	{"BM", "Bermuda", NorthAmerica},
	{"BN", "Brunei", Asia},
	{"BO", "Bolivia", SouthAmerica},
	{"BQ", "Caribbean Netherlands", NorthAmerica},
	{"BR", "Brazil", SouthAmerica},
	{"BS", "Bahamas", NorthAmerica},
	{"BT", "Bhutan", Asia},
	{"BV", "Bouvet Island", Antarctica},
	{"BW", "Botswana", Africa},
	{"BY", "Belarus", Europe},
	{"BZ", "Belize", NorthAmerica},
	{"CA", "Canada", NorthAmerica},
	{"CC", "Cocos (Keeling) Islands", Asia},
	{"CD", "Democratic Republic of the Congo", Africa},
	{"CF", "Central African Republic", Africa},
	{"CG", "Republic of the Congo", Africa},
	{"CH", "Switzerland", Europe},
	{"CI", "Côte d'Ivoire", Africa},
	{"CK", "Cook Islands", Oceania},
	{"CL", "Chile", SouthAmerica},
	{"CM", "Cameroon", Africa},
	{"CN", "China", Asia},
	{"CO", "Colombia", SouthAmerica},
	{"CR", "Costa Rica", NorthAmerica},
	{"CU", "Cuba", NorthAmerica},
	{"CV", "Cabo Verde", Africa},
	{"CW", "Curaçao", NorthAmerica},
	{"CX", "Christmas Island", Oceania}, // MaxMind: Oceania, although neighbouring CC is Asia.
	{"CY", "Cyprus", Europe},
	{"CZ", "Czechia", Europe},
	{"DE", "Germany", Europe},
	{"DJ", "Djibouti", Africa},
	{"DK", "Denmark", Europe},
	{"DM", "Dominica", NorthAmerica},
	{"DO", "Dominican Republic", NorthAmerica},
	{"DZ", "Algeria", Africa},
	{"EC", "Ecuador", SouthAmerica},
	{"EE", "Estonia", Europe},
	{"EG", "Egypt", Africa},
	{"EH", "Western Sahara", Africa},
	{"ER", "Eritrea", Africa},
	{"ES", "Spain", Europe},
	{"ET", "Ethiopia", Africa},
	{"FI", "Finland", Europe},
	{"FJ", "Fiji", Oceania},
	{"FK", "Falkland Islands", SouthAmerica},
	{"FM", "Micronesia", Oceania},
	{"FO", "Faroe Islands", Europe},
	{"FR", "France", Europe},
	{"GA", "Gabon", Africa},
	{"GB", "United Kingdom", Europe},
	{"GD", "Grenada", NorthAmerica},
	{"GE", "Georgia", Asia},
	{"GF", "French Guiana", SouthAmerica},
	{"GG", "Guernsey", Europe},
	{"GH", "Ghana", Africa},
	{"GI", "Gibraltar", Europe},
	{"GL", "Greenland", NorthAmerica},
	{"GM", "Gambia", Africa},
	{"GN", "Guinea", Africa},
	{"GP", "Guadeloupe", NorthAmerica},
	{"GQ", "Equatorial Guinea", Africa},
	{"GR", "Greece", Europe},
	{"GS", "South Georgia and the South Sandwich Islands", Antarctica},
	{"GT", "Guatemala", NorthAmerica},
	{"GU", "Guam", Oceania},
	{"GW", "Guinea-Bissau", Africa},
	{"GY", "Guyana", SouthAmerica},
	{"HK", "Hong Kong", Asia},
	{"HM", "Heard Island and McDonald Islands", Antarctica},
	{"HN", "Honduras", NorthAmerica},
	{"HR", "Croatia", Europe},
	{"HT", "Haiti", NorthAmerica},
	{"HU", "Hungary", Europe},
	{"ID", "Indonesia", Asia},
	{"IE", "Ireland", Europe},
	{"IL", "Israel", Asia},
	{"IM", "Isle of Man", Europe},
	{"IN", "India", Asia},
	{"IO", "British Indian Ocean Territory", Asia},
	{"IQ", "Iraq", Asia},
	{"IR", "Iran", Asia},
	{"IS", "Iceland", Europe},
	{"IT", "Italy", Europe},
	{"JE", "Jersey", Europe},
	{"JM", "Jamaica", NorthAmerica},
	{"JO", "Jordan", Asia},
	{"JP", "Japan", Asia},
	{"KE", "Kenya", Africa},
	{"KG", "Kyrgyzstan", Asia},
	{"KH", "Cambodia", Asia},
	{"KI", "Kiribati", Oceania},
	{"KM", "Comoros", Africa},
	{"KN", "Saint Kitts and Nevis", NorthAmerica},
	{"KP", "North Korea", Asia},
	{"KR", "South Korea", Asia},
	{"KW", "Kuwait", Asia},
	{"KY", "Cayman Islands", NorthAmerica},
	{"KZ", "Kazakhstan", Asia},
	{"LA", "Laos", Asia},
	{"LB", "Lebanon", Asia},
	{"LC", "Saint Lucia", NorthAmerica},
	{"LI", "Liechtenstein", Europe},
	{"LK", "Sri Lanka", Asia},
	{"LR", "Liberia", Africa},
	{"LS", "Lesotho", Africa},
	{"LT", "Lithuania", Europe},
	{"LU", "Luxembourg", Europe},
	{"LV", "Latvia", Europe},
	{"LY", "Libya", Africa},
	{"MA", "Morocco", Africa},
	{"MC", "Monaco", Europe},
	{"MD", "Moldova", Europe},
	{"ME", "Montenegro", Europe},
	{"MF", "Saint Martin", NorthAmerica},
	{"MG", "Madagascar", Africa},
	{"MH", "Marshall Islands", Oceania},
	{"MK", "North Macedonia", Europe},
	{"ML", "Mali", Africa},
	{"MM", "Myanmar", Asia},
	{"MN", "Mongolia", Asia},
	{"MO", "Macao", Asia},
	{"MP", "Northern Mariana Islands", Oceania},
	{"MQ", "Martinique", NorthAmerica},
	{"MR", "Mauritania", Africa},
	{"MS", "Montserrat", NorthAmerica},
	{"MT", "Malta", Europe},
	{"MU", "Mauritius", Africa},
	{"MV", "Maldives", Asia},
	{"MW", "Malawi", Africa},
	{"MX", "Mexico", NorthAmerica},
	{"MY", "Malaysia", Asia},
	{"MZ", "Mozambique", Africa},
	{"NA", "Namibia", Africa},
	{"NC", "New Caledonia", Oceania},
	{"NE", "Niger", Africa},
	{"NF", "Norfolk Island", Oceania},
	{"NG", "Nigeria", Africa},
	{"NI", "Nicaragua", NorthAmerica},
	{"NL", "Netherlands", Europe},
	{"NO", "Norway", Europe},
	{"NP", "Nepal", Asia},
	{"NR", "Nauru", Oceania},
	{"NU", "Niue", Oceania},
	{"NZ", "New Zealand", Oceania},
	{"OM", "Oman", Asia},
	{"PA", "Panama", NorthAmerica},
	{"PE", "Peru", SouthAmerica},
	{"PF", "French Polynesia", Oceania},
	{"PG", "Papua New Guinea", Oceania},
	{"PH", "Philippines", Asia},
	{"PK", "Pakistan", Asia},
	{"PL", "Poland", Europe},
	{"PM", "Saint Pierre and Miquelon", NorthAmerica},
	{"PN", "Pitcairn Islands", Oceania},
	{"PR", "Puerto Rico", NorthAmerica},
	{"PS", "Palestine", Asia},
	{"PT", "Portugal", Europe},
	{"PW", "Palau", Oceania},
	{"PY", "Paraguay", SouthAmerica},
	{"QA", "Qatar", Asia},
	{"RE", "Réunion", Africa},
	{"RO", "Romania", Europe},
	{"RS", "Serbia", Europe},
	{"RU", "Russia", Europe},
	{"RW", "Rwanda", Africa},
	{"SA", "Saudi Arabia", Asia},
	{"SB", "Solomon Islands", Oceania},
	{"SC", "Seychelles", Africa},
	{"SD", "Sudan", Africa},
	{"SE", "Sweden", Europe},
	{"SG", "Singapore", Asia},
	{"SH", "Saint Helena, Ascension and Tristan da Cunha", Africa},
	{"SI", "Slovenia", Europe},
	{"SJ", "Svalbard and Jan Mayen", Europe},
	{"SK", "Slovakia", Europe},
	{"SL", "Sierra Leone", Africa},
	{"SM", "San Marino", Europe},
	{"SN", "Senegal", Africa},
	{"SO", "Somalia", Africa},
	{"SR", "Suriname", SouthAmerica},
	{"SS", "South Sudan", Africa},
	{"ST", "São Tomé and Príncipe", Africa},
	{"SV", "El Salvador", NorthAmerica},
	{"SX", "Sint Maarten", NorthAmerica},
	{"SY", "Syria", Asia},
	{"SZ", "Eswatini", Africa},
	{"TC", "Turks and Caicos Islands", NorthAmerica},
	{"TD", "Chad", Africa},
	{"TF", "French Southern Territories", Antarctica},
	{"TG", "Togo", Africa},
	{"TH", "Thailand", Asia},
	{"TJ", "Tajikistan", Asia},
	{"TK", "Tokelau", Oceania},
	{"TL", "Timor-Leste", Oceania}, // MaxMind: Oceania, not Asia like neighbouring ID.
	{"TM", "Turkmenistan", Asia},
	{"TN", "Tunisia", Africa},
	{"TO", "Tonga", Oceania},
	{"TR", "Türkiye", Asia},
	{"TT", "Trinidad and Tobago", NorthAmerica},
	{"TV", "Tuvalu", Oceania},
	{"TW", "Taiwan", Asia},
	{"TZ", "Tanzania", Africa},
	{"UA", "Ukraine", Europe},
	{"UG", "Uganda", Africa},
	{"UM", "United States Minor Outlying Islands", Oceania},
	{"US", "United States", NorthAmerica},
	{"UY", "Uruguay", SouthAmerica},
	{"UZ", "Uzbekistan", Asia},
	{"VA", "Vatican City", Europe},
	{"VC", "Saint Vincent and the Grenadines", NorthAmerica},
	{"VE", "Venezuela", SouthAmerica},
	{"VG", "British Virgin Islands", NorthAmerica},
	{"VI", "U.S. Virgin Islands", NorthAmerica},
	{"VN", "Vietnam", Asia},
	{"VU", "Vanuatu", Oceania},
	{"WF", "Wallis and Futuna", Oceania},
	{"WS", "Samoa", Oceania},
	// XK is user-assigned in ISO 3166, but MaxMind and DB-IP return it for
	// Kosovo, so clients there must resolve to a continent.
	{"XK", "Kosovo", Europe},
	{"YE", "Yemen", Asia},
	{"YT", "Mayotte", Africa},
	{"ZA", "South Africa", Africa},
	{"ZM", "Zambia", Africa},
	{"ZW", "Zimbabwe", Africa},
}
