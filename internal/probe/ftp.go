package probe

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/jlaffaye/ftp"
)

// ftp logs in (anonymously unless the URL has a user) and asks for the
// file's SIZE: a control-connection round trip, no data connection.
func (p *Prober) ftp(ctx context.Context, t Target) error {
	u, err := url.Parse(t.URL)
	if err != nil || u.Scheme != "ftp" || u.Host == "" {
		return fmt.Errorf("bad FTP URL %q", t.URL)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "21")
	}
	c, err := ftp.Dial(addr, ftp.DialWithContext(ctx), ftp.DialWithDialFunc(func(network, address string) (net.Conn, error) {
		return p.dial(ctx, t.Family, address)
	}))
	if err != nil {
		return err
	}
	defer c.Quit()
	stop := context.AfterFunc(ctx, func() { c.Quit() })
	defer stop()
	user, pass := "anonymous", "mirrorkit@"
	if u.User != nil {
		user = u.User.Username()
		if pw, ok := u.User.Password(); ok {
			pass = pw
		}
	}
	if err := c.Login(user, pass); err != nil {
		return fmt.Errorf("FTP login: %w", err)
	}
	if t.Path == "" {
		return c.NoOp()
	}
	if _, err := c.FileSize(strings.TrimSuffix(u.Path, "/") + t.Path); err != nil {
		return &statusError{status: "FTP " + err.Error(), path: t.Path}
	}
	return nil
}
