package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/testutil"
	"github.com/mirrorkit/mirrorkit/internal/testutil/nginx"
)

// BenchmarkProbeDownToLastRedirect measures how long a mirror that dies
// keeps getting redirects, with the default probe settings (interval 1m,
// timeout 10s, down_after 3): the time from its death to the last redirect
// the redirector sent to it. Nine real nginx mirrors serve one file; one
// stays up, four are stopped (connections refused) and four are frozen with
// SIGSTOP (the kernel still accepts connections, nobody answers: the probe
// times out), each at a random moment of a probe round, while clients ask
// the redirector for the file about a thousand times a second. One
// iteration takes about two and a half minutes; run it with
//
//	go test ./cmd/mirrorkit -run '^$' -bench ProbeDownToLastRedirect -benchtime 3x
//
// It reports the mean and the worst delay of each kind of death, in seconds.
func BenchmarkProbeDownToLastRedirect(b *testing.B) {
	var refused, hung []float64
	for b.Loop() {
		r, h := downToLastRedirect(b)
		refused, hung = append(refused, r...), append(hung, h...)
	}
	report := func(name string, v []float64) {
		if len(v) == 0 {
			return
		}
		sum := 0.0
		for _, x := range v {
			sum += x
		}
		b.ReportMetric(sum/float64(len(v)), "s-"+name+"-mean")
		b.ReportMetric(slices.Max(v), "s-"+name+"-max")
	}
	report("refused", refused)
	report("hung", hung)
}

// downToLastRedirect runs one network through one set of deaths and returns
// each victim's delay, in seconds, by kind.
func downToLastRedirect(b *testing.B) (refused, hung []float64) {
	const (
		interval = time.Minute // probe.interval's default
		mirrors  = 9
		clients  = 4
		pace     = 4 * time.Millisecond // per client, between requests
	)
	c := newCLI(b)
	c.clock = time.Now
	origin := filepath.Join(c.dir, "origin")
	if err := os.MkdirAll(filepath.Join(origin, "pub"), 0o755); err != nil {
		b.Fatal(err)
	}
	os.WriteFile(filepath.Join(origin, "pub", "x.iso"), make([]byte, 10000), 0o644)
	os.WriteFile(filepath.Join(origin, "TIME"), []byte(strconv.FormatInt(time.Now().Unix(), 10)+"\n"), 0o644)
	c.ok("catalog", "build", "--origin", origin)
	c.ok("site", "add", "s")
	webs := make([]*nginx.Server, mirrors)
	for i := range webs {
		webs[i] = nginx.Start(b, origin)
		pgid := webs[i].PID()
		// A frozen server must thaw before its cleanup can stop it.
		b.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGCONT) })
		c.ok("mirror", "add", fmt.Sprintf("m%d", i), "--site", "s", "--http", webs[i].URL(), "--country", "DE")
	}
	c.ok("mirror", "scan", "--all")

	listen := testutil.ClosedAddr(b)
	c.env = append(c.env, "MIRRORKIT_REDIRECTOR_METRICS_LISTEN=")
	defer c.background("redirector", "--listen", listen, "--origin", origin)()

	// Clients: each records, by mirror, when it last got a redirect there.
	var mu sync.Mutex
	last := make([]time.Time, mirrors)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			for {
				select {
				case <-stop:
					return
				case <-time.After(pace):
				}
				resp, err := cl.Get("http://" + listen + "/pub/x.iso")
				if err != nil {
					continue
				}
				resp.Body.Close()
				loc, now := resp.Header.Get("Location"), time.Now()
				for i, w := range webs {
					if strings.HasPrefix(loc, w.URL()) {
						mu.Lock()
						last[i] = now
						mu.Unlock()
					}
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	// Wait until every mirror got a redirect: the network is up.
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		all := !slices.ContainsFunc(last, time.Time.IsZero)
		mu.Unlock()
		if all {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("not every mirror got a redirect within a minute: %v", last)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Mirror 0 stays; 1–4 are stopped, 5–8 frozen, each at a random
	// moment of one probe interval.
	start := time.Now()
	died := make([]time.Time, mirrors)
	order := make([]int, 0, mirrors-1)
	at := make([]time.Duration, mirrors)
	for i := 1; i < mirrors; i++ {
		order = append(order, i)
		at[i] = rand.N(interval)
	}
	slices.SortFunc(order, func(x, y int) int { return int(at[x] - at[y]) })
	for _, i := range order {
		time.Sleep(time.Until(start.Add(at[i])))
		if i <= 4 {
			if err := webs[i].Stop(); err != nil {
				b.Fatal(err)
			}
		} else if err := syscall.Kill(-webs[i].PID(), syscall.SIGSTOP); err != nil {
			b.Fatal(err)
		}
		died[i] = time.Now()
	}
	// The slowest case is a death just after a round's probe: the next
	// round finds it one interval later, a hung one after the timeout.
	time.Sleep(time.Until(start.Add(2*interval + 30*time.Second)))

	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < mirrors; i++ {
		d := last[i].Sub(died[i]).Seconds()
		kind := "refused"
		if i > 4 {
			kind = "hung"
			hung = append(hung, d)
		} else {
			refused = append(refused, d)
		}
		b.Logf("m%d (%s) died %s after the start, last redirect %.1f s later", i, kind, at[i].Round(time.Second), d)
		if time.Since(last[i]) < 10*time.Second {
			b.Errorf("m%d (%s) still gets redirects %.0f s after it died", i, kind, time.Since(died[i]).Seconds())
		}
	}
	if time.Since(last[0]) > 5*time.Second {
		b.Errorf("the surviving mirror got no redirect for %v", time.Since(last[0]))
	}
	return refused, hung
}
