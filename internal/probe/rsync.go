package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// rsync speaks the start of the daemon protocol: read the greeting, answer
// it, name the module, and read the verdict. "@RSYNCD: OK" (or a request
// for a password) means the daemon serves the module; nothing is listed or
// transferred, so a probe costs the mirror next to nothing.
func (p *Prober) rsync(ctx context.Context, t Target) error {
	u, err := url.Parse(t.URL)
	if err != nil || u.Scheme != "rsync" || u.Host == "" {
		return fmt.Errorf("bad rsync URL %q", t.URL)
	}
	module, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if module == "" {
		return fmt.Errorf("rsync URL %q names no module", t.URL)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "873")
	}
	conn, err := p.dial(ctx, t.Family, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	r := bufio.NewReaderSize(conn, 1024)
	greeting, err := readLine(r)
	if err != nil {
		return fmt.Errorf("rsync greeting: %w", err)
	}
	if !strings.HasPrefix(greeting, "@RSYNCD: ") {
		return fmt.Errorf("not an rsync daemon (said %q)", clip(greeting))
	}
	if _, err := fmt.Fprintf(conn, "@RSYNCD: 30.0\n%s\n", module); err != nil {
		return err
	}
	for {
		line, err := readLine(r)
		if err != nil {
			return fmt.Errorf("rsync module %s: %w", module, err)
		}
		switch {
		case line == "@RSYNCD: OK", strings.HasPrefix(line, "@RSYNCD: AUTHREQD"):
			return nil
		case strings.HasPrefix(line, "@ERROR"):
			return fmt.Errorf("rsync module %s: %s", module, strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(line, "@ERROR"), ":")))
		case strings.HasPrefix(line, "@RSYNCD: EXIT"):
			return fmt.Errorf("rsync module %s: daemon hung up", module)
		}
		// Anything else is the daemon's motd.
	}
}

var errLongLine = errors.New("line too long")

func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", errLongLine
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
