package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// demoISOSize keeps the demo's images small: four mirrors copy them twice.
// They are sparse at the origin, as real ISOs being assembled often are.
const demoISOSize = 16 << 20

// writeDemoOrigin writes version 1 of the origin tree, or applies the update
// to version 2: a respun ISO, a new package and new repository metadata.
func writeDemoOrigin(root string, version int) error {
	at := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	if version == 2 {
		at = at.Add(26 * time.Hour)
	}
	file := func(rel string, data []byte) error {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
		return os.Chtimes(p, at, at)
	}
	sparse := func(rel string, size int64, mark string) error {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		// A label at the start and the end; holes in between.
		if _, err := f.WriteString(mark); err != nil {
			f.Close()
			return err
		}
		if _, err := f.WriteAt([]byte(mark), size-int64(len(mark))); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return os.Chtimes(p, at, at)
	}
	pkg := func(name string) []byte {
		b := make([]byte, 8<<10)
		for i := range b {
			b[i] = byte(len(name) + i*7)
		}
		return append([]byte(name+"\n"), b...)
	}
	repomd := func(pkgs ...string) []byte {
		s := fmt.Sprintf("<?xml version=\"1.0\"?>\n<repomd revision=\"%d\">\n", at.Unix())
		for _, p := range pkgs {
			s += fmt.Sprintf("  <!-- %s -->\n", p)
		}
		return []byte(s + "</repomd>\n")
	}
	steps := []error{
		file("TIME", fmt.Appendf(nil, "%d\n", at.Unix())),
		file("README.txt", []byte("The mirrorkit demo origin: releases/ (ISO images), repo/ (a package repository).\n")),
	}
	switch version {
	case 1:
		steps = append(steps,
			sparse("releases/40/iso/Demo-40-x86_64.iso", demoISOSize, "Demo 40"),
			sparse("releases/41/iso/Demo-41-x86_64.iso", demoISOSize, "Demo 41 (first build)"),
			file("releases/41/iso/Demo-41-CHECKSUM", []byte("sha256 of the first build\n")),
			file("repo/x86_64/Packages/demo-tools-1.0-1.x86_64.rpm", pkg("demo-tools-1.0-1")),
			file("repo/x86_64/repodata/repomd.xml", repomd("demo-tools-1.0-1")),
			sparse("releases/42/iso/Demo-42-x86_64.iso", demoISOSize, "Demo 42 (not released yet)"),
		)
	case 2:
		steps = append(steps,
			sparse("releases/41/iso/Demo-41-x86_64.iso", demoISOSize+4096, "Demo 41 (respin)"),
			file("releases/41/iso/Demo-41-CHECKSUM", []byte("sha256 of the respin\n")),
			file("repo/x86_64/Packages/demo-tools-1.1-1.x86_64.rpm", pkg("demo-tools-1.1-1")),
			file("repo/x86_64/repodata/repomd.xml", repomd("demo-tools-1.0-1", "demo-tools-1.1-1")),
		)
	}
	for _, err := range steps {
		if err != nil {
			return fmt.Errorf("demo origin: %w", err)
		}
	}
	// The staged release: present, closed to the public until its bit flip.
	return os.Chmod(filepath.Join(root, "releases", "42"), 0o750)
}

// writeDemoGeo writes a city database that places the documentation ranges
// (and one private range) in the demo's four regions, and loopback in
// Amsterdam, so the location logic shows with local clients.
func writeDemoGeo(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "mirrorkit-demo-city", IncludeReservedNetworks: true,
		IPVersion: 6, RecordSize: 28})
	if err != nil {
		return "", err
	}
	city := func(iso string, lat, lon float64) mmdbtype.Map {
		return mmdbtype.Map{
			"country":  mmdbtype.Map{"iso_code": mmdbtype.String(iso)},
			"location": mmdbtype.Map{"latitude": mmdbtype.Float64(lat), "longitude": mmdbtype.Float64(lon)},
		}
	}
	for cidr, rec := range map[string]mmdbtype.Map{
		"192.0.2.0/24":    city("DE", 52.52, 13.40),   // Berlin
		"198.51.100.0/24": city("US", 40.71, -74.01),  // New York
		"203.0.113.0/24":  city("JP", 34.69, 135.50),  // Osaka
		"10.0.0.0/8":      city("BR", -22.91, -43.17), // Rio de Janeiro
		"127.0.0.0/8":     city("NL", 52.37, 4.90),    // Amsterdam
	} {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			return "", err
		}
		if err := tree.Insert(n, rec); err != nil {
			return "", err
		}
	}
	path := filepath.Join(dir, "demo-city.mmdb")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if _, err := tree.WriteTo(f); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
