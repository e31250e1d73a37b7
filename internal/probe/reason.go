package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// explain turns a probe error into the words an operator acts on, and
// sorts it into a few kinds for metrics (timeout, refused, reset,
// unreachable, dns, tls, http_status, other), so a dashboard can count
// failures without one series per message.
func explain(err error, timeout time.Duration) (class, words string) {
	// "Head \"https://…\": " says nothing the target does not.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var (
		status   *statusError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
		unknown  x509.UnknownAuthorityError
		record   tls.RecordHeaderError
		dns      *net.DNSError
		addrErr  *net.AddrError
	)
	switch {
	case errors.As(err, &status):
		return "http_status", status.Error()
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired {
			return "tls", "TLS certificate expired or not yet valid"
		}
		return "tls", "TLS certificate invalid: " + invalid.Error()
	case errors.As(err, &hostname):
		return "tls", fmt.Sprintf("TLS certificate is not for %s", hostname.Host)
	case errors.As(err, &unknown):
		return "tls", "TLS certificate not trusted (unknown authority)"
	case errors.As(err, &record), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "tls", "TLS handshake failed: the server does not speak TLS"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), isTimeout(err):
		return "timeout", fmt.Sprintf("timeout after %s", timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused", "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset", "connection reset"
	case errors.Is(err, syscall.ENETUNREACH):
		return "unreachable", "network unreachable"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "unreachable", "host unreachable"
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return "dns", "no such host: " + dns.Name
		}
		return "dns", "DNS: " + dns.Err
	case errors.As(err, &addrErr):
		return "unreachable", "no address of this family: " + addrErr.Err
	}
	return "other", err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
