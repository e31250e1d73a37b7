// Package metalink renders the documents the redirector answers for
// PATH.meta4 (RFC 5854, Metalink 4) and PATH.metalink (the metalinker.org
// Metalink 3.0 format that zypper, dnf's repomd handling and other older
// clients still read). A metalink lets a download manager fetch one file from
// several mirrors at once and verify it, whole and piece by piece, against
// hashes that come from the catalog rather than from any mirror.
//
// The package is pure: it takes the file's facts, the mirror URLs the
// selection already chose and ordered, and the caller's clock reading, and
// writes XML. It does no I/O beyond the io.Writer it is given, and writes
// nothing at all when the input is refused, so a handler can fall back to a
// plain redirect.
//
// Decisions that are not obvious from the formats:
//
//   - File names. The catalog keeps names as raw bytes, and a mirror may hold
//     a Latin-1 name. XML 1.0 cannot carry invalid UTF-8 or most control
//     characters, and encoding/xml would silently replace them with U+FFFD,
//     folding different names into one. Instead every byte of an invalid
//     UTF-8 sequence, every C0 control character, DEL and the non-characters
//     U+FFFE and U+FFFF are percent-encoded (%E9, %0A, ...). The name is only
//     the client's save-as hint (the bytes it fetches come from the URLs), so
//     the encoding need not be reversible and a literal '%' is left alone.
//     Names that could escape the client's download directory are refused:
//     empty, ".", "..", or containing '/' or NUL. One client quirk remains:
//     aria2c reads attributes through libxml2's SAX interface without entity
//     substitution and so saves "R&D.iso" as "R&#38;D.iso". Every
//     well-formed spelling of '&' in an attribute meets the same fate, so the
//     output stays correct XML rather than mangling the name for everyone.
//   - URLs. The caller percent-encodes them (the redirector builds them from
//     the mirror's base URL and the escaped path). The package checks rather
//     than fixes: a URL that is not absolute, has no host, uses a scheme other
//     than http, https, ftp or rsync, or contains a space, control character
//     or non-ASCII byte is refused. Escaping a URL twice, or guessing which
//     '%' was meant literally, would produce a link that silently 404s.
//   - rsync. Download managers fetch over HTTP(S) and FTP; aria2c silently
//     skips rsync:// URLs, and a client that does not filter by scheme would
//     spend an attempt on each. They are dropped unless Options.IncludeRsync
//     is set (for tools that do speak rsync).
//   - Order and preference. URLs are written sorted by Priority (stable, so
//     the caller's order breaks ties). Metalink 4 carries the priority as is
//     (1 is best); Metalink 3's preference runs the other way (100 is best),
//     so it is 101-Priority, floored at 1, which keeps ties tied.
//   - Pieces. Metalink 4 lists SHA-256 piece hashes in <pieces>; Metalink 3
//     lists them as <pieces type="sha256"> with numbered <hash piece="i">
//     children, which aria2c verifies like Metalink 4's.
package metalink
