// Package country is the single source of truth for the countries a mirror
// may register and for the continent each one belongs to.
//
// GeoIP databases resolve a client address to a country, never to a
// continent, yet the redirector falls back to same-continent mirrors when a
// country has none of its own. Registry validation, in turn, must reject codes
// that look plausible but are not countries (UK, EU, A1, ...). Keeping one
// table here stops those two users from drifting apart.
//
// The table holds every officially assigned ISO 3166-1 alpha-2 code plus XK
// (Kosovo), which is only user-assigned in ISO terms but is emitted by MaxMind
// and DB-IP, so a client from Kosovo must map somewhere. Continents follow
// MaxMind's GeoIP2 assignments rather than any atlas, because those are the
// codes the redirector compares against. Names are the common English short
// names ("Bolivia", "South Korea") rather than ISO's formal ones, since they
// are shown to people.
//
// Lookups run on the request path for every redirect, so they are O(1) and
// allocate nothing.
package country
