// Package pages serves mirrorkit's public web pages: the mirror list grouped
// by continent and country, a world map of the mirrors drawn as SVG from
// embedded Natural Earth outlines, and one page per mirror with its probes,
// scans and every reason it gets no clients.
//
// The pages render only from a *netstatus.Network, the public model the JSON
// API shares, so what a browser shows and what the API says cannot drift, and
// private mirrors and notes cannot leak: they never enter the model.
//
// Pages are server-rendered with html/template and readable without
// JavaScript (there is none); the one stylesheet is embedded (package web)
// and served under the prefix, so a strict Content-Security-Policy holds and
// nothing is fetched from elsewhere. Mirror URLs and sponsor links come from
// operators; html/template escapes them, and links are only made for the
// schemes a mirror may use.
//
// The list page and the map are rendered once per Network value and then
// served from memory with an ETag, because the model is replaced as a whole
// on refresh and many clients read the same one.
package pages

// The map outlines are generated; see mapgen for the source and licence:
//
//	cd /tmp && npm pack world-atlas@2.0.2
//	WORLD_ATLAS=/tmp/world-atlas-2.0.2.tgz go generate ./internal/pages
//
//go:generate go run ./mapgen -in ${WORLD_ATLAS} -out ../../web/map/countries-110m.txt
