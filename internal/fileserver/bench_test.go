package fileserver

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mirrorkit/mirrorkit/internal/testutil"
	"github.com/mirrorkit/mirrorkit/internal/testutil/nginx"
)

// BenchmarkVsNginx serves one tree with Debian's nginx (sendfile on) and with
// this package, side by side in one run, nginx measured before and after us
// (a shared VM drifts) and compared with the mean of the two:
//
//   - throughput of a 1 GiB file, one connection (curl -o /dev/null, best of 3);
//   - requests/s for a 4 KiB file, wrk -t2 -c50 -d10s.
//
// Both run without access logs (the nginx harness has access_log off) and
// without the per-IP cap (wrk opens 50 connections from one address).
//
//	go test -run '^$' -bench VsNginx -benchtime 1x ./internal/fileserver/
func BenchmarkVsNginx(b *testing.B) {
	testutil.RequireTool(b, "wrk")
	testutil.RequireTool(b, "curl")
	root := b.TempDir()
	sparse(b, filepath.Join(root, "big.img"), 1<<30, []byte("end"))
	small := pattern(4096)
	for i := range 100 {
		writeFile(b, filepath.Join(root, "small", fmt.Sprintf("f%03d.bin", i)), small, 0o644)
	}
	// Warm the page cache for both.
	if _, err := os.ReadFile(filepath.Join(root, "big.img")); err != nil {
		b.Fatal(err)
	}
	ng := nginx.Start(b, root, nginx.ServerDirectives("sendfile on; tcp_nopush on; keepalive_requests 1000000;"))
	cfg := DefaultConfig(root)
	cfg.MaxConnsPerIP = 0
	ours := start(b, cfg)

	measure := func(base string) (mbps, rps float64) {
		for range 3 {
			out := mustRun(b, "curl", "-sS", "-f", "-o", "/dev/null", "-w", "%{speed_download}", base+"/big.img")
			v, err := strconv.ParseFloat(strings.TrimSpace(out), 64)
			if err != nil {
				b.Fatalf("curl speed %q: %v", out, err)
			}
			mbps = max(mbps, v/1e6)
		}
		out := mustRun(b, "wrk", "-t2", "-c50", "-d10s", base+"/small/f042.bin")
		m := regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`).FindStringSubmatch(out)
		if m == nil || strings.Contains(out, "Non-2xx") || strings.Contains(out, "Socket errors") {
			b.Fatalf("wrk output:\n%s", out)
		}
		rps, _ = strconv.ParseFloat(m[1], 64)
		return mbps, rps
	}
	b.ResetTimer()
	for range b.N {
		n1MB, n1RPS := measure(strings.TrimSuffix(ng.URL(), "/"))
		oMB, oRPS := measure(ours.URL)
		n2MB, n2RPS := measure(strings.TrimSuffix(ng.URL(), "/"))
		nMB, nRPS := (n1MB+n2MB)/2, (n1RPS+n2RPS)/2
		b.ReportMetric(nMB, "nginx-MB/s")
		b.ReportMetric(oMB, "mirrorkit-MB/s")
		b.ReportMetric(oMB/nMB, "ratio-MB/s")
		b.ReportMetric(nRPS, "nginx-req/s")
		b.ReportMetric(oRPS, "mirrorkit-req/s")
		b.ReportMetric(oRPS/nRPS, "ratio-req/s")
		b.Logf("1 GiB: nginx %.0f / %.0f MB/s, mirrorkit %.0f MB/s (%.2f×)", n1MB, n2MB, oMB, oMB/nMB)
		b.Logf("4 KiB: nginx %.0f / %.0f req/s, mirrorkit %.0f req/s (%.2f×)", n1RPS, n2RPS, oRPS, oRPS/nRPS)
	}
}
