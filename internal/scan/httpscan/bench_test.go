package httpscan

import (
	"fmt"
	"strings"
	"testing"
)

// nginxBenchPage is an nginx autoindex page of n entries, laid out as nginx
// lays them out (names padded to 50 columns, sizes right-aligned in 20).
func nginxBenchPage(n int) []byte {
	var b strings.Builder
	b.WriteString("<html>\r\n<head><title>Index of /pub/</title></head>\r\n<body>\r\n<h1>Index of /pub/</h1><hr><pre><a href=\"../\">../</a>\r\n")
	for i := range n {
		name := fmt.Sprintf("package-%05d-1.0-1.fc40.x86_64.rpm", i)
		size := fmt.Sprintf("%d", 1000+i*997)
		if i%10 == 0 {
			name = fmt.Sprintf("dir-%05d/", i)
			size = "-"
		}
		fmt.Fprintf(&b, "<a href=\"%s\">%s</a>%s02-Jan-2026 03:04 %20s\r\n", name, name, strings.Repeat(" ", 51-len(name)), size)
	}
	b.WriteString("</pre><hr></body>\r\n</html>\r\n")
	return []byte(b.String())
}

func BenchmarkParseNginx(b *testing.B) {
	const n = 10000
	page := nginxBenchPage(n)
	d := pubDir(b)
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		es, err := parseNginx(page, d)
		if err != nil || len(es) != n {
			b.Fatalf("%d entries, %v", len(es), err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
}
