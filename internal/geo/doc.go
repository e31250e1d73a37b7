// Package geo answers "where is this client?" for the redirector: given an
// IP address it returns the country, the continent, approximate coordinates
// and the autonomous system number, so that a download can be sent to a
// nearby mirror.
//
// The package owns reading GeoIP data and keeping it fresh. It reads
// MaxMind-format (.mmdb) databases in both the MaxMind GeoLite2/GeoIP2 layout
// (nested country/location maps) and the flat DB-IP Lite layout shipped by
// ip-location-db, ASN databases in .mmdb form, and ASN ranges as CSV
// (start_ip,end_ip,asn,organisation). A Reloader watches the files and swaps
// in a new Resolver when they change, so the data can be updated without a
// restart.
//
// Continents never come from the databases: they are always derived from the
// country code through package country, so that every part of mirrorkit agrees
// on which continent a country belongs to. Codes that are not ISO 3166-1
// countries (MaxMind's "EU" and "AP", the legacy "A1"/"A2" anonymous proxy and
// satellite codes, "ZZ") are treated as unknown.
//
// Geo data is optional: a Resolver with no files answers every lookup with
// the zero Info (Known == false), and the redirector falls back to its
// non-geographic selection.
package geo
