package probe

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// statusError is an HTTP or FTP answer that says the file is not there.
type statusError struct {
	status string
	path   string
}

func (e *statusError) Error() string { return e.status + " on " + e.path }

// http sends HEAD for the target's file over a fresh connection (a kept-alive
// one would hide a listener that stopped accepting) of the target's family.
func (p *Prober) http(ctx context.Context, t Target) error {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return p.dial(ctx, t.Family, addr)
		},
		DisableKeepAlives:   true,
		TLSHandshakeTimeout: 0, // the context bounds it
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: p.RootCAs},
		ForceAttemptHTTP2:   true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		// A mirror that redirects its own files elsewhere is not serving
		// them; say where it points instead of following.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	u := strings.TrimSuffix(t.URL, "/") + t.Path
	if t.Path == "" {
		u = t.URL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return fmt.Errorf("bad URL %q: %w", u, err)
	}
	req.Header.Set("User-Agent", "mirrorkit-probe")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
		return &statusError{status: fmt.Sprintf("%d to %s", resp.StatusCode, loc), path: pathOf(t)}
	}
	return &statusError{status: fmt.Sprint(resp.StatusCode), path: pathOf(t)}
}

func pathOf(t Target) string {
	if t.Path == "" {
		return "/"
	}
	return t.Path
}
