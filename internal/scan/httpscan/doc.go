// Package httpscan scans a mirror over HTTP(S): the last resort, for mirrors
// that offer neither rsync nor FTP. It owns crawling directory index pages,
// the parsers for the index formats found on mirrors (nginx autoindex HTML
// and JSON, Apache mod_autoindex table and list forms, lighttpd
// mod_dirlisting), and the HEAD fallback (Verify) for mirrors without index
// pages.
//
// An index page is a poor listing, and the scanner is honest about it:
// symlinks are followed by the server, so they appear as what they point to;
// sizes printed as "4.0G" become -1; times carry the page's precision (a
// minute for most HTML pages, a second for nginx JSON and lighttpd) and are
// read as UTC (nginx with autoindex_localtime off really prints UTC; Apache
// and lighttpd print the server's local time, which a page does not reveal).
//
// Pages are hostile input. Only links that resolve to a direct child of the
// directory being listed (same scheme, host and port; the directory's path
// plus one segment) are followed; sort links, parent links and links
// elsewhere are ignored, and a child whose decoded name is ".", "..", or
// holds a "/" or NUL byte makes the page a bad listing. Names always come
// from the href, never from the link text, which servers truncate.
//
// A scan either sees the whole visible tree or fails: a 5xx, a network error
// or a 404 for a directory its parent just listed fails the scan, so a
// partial crawl never looks like a mirror that lost files. A 401 or 403 on a
// subdirectory is what any public client sees of staged (0750) content and
// is skipped silently.
package httpscan
