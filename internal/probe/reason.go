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

// reason turns a probe error into the words an operator acts on.
func reason(err error, timeout time.Duration) string {
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
		return status.Error()
	case errors.As(err, &invalid):
		switch invalid.Reason {
		case x509.Expired:
			return "TLS certificate expired or not yet valid"
		default:
			return "TLS certificate invalid: " + invalid.Error()
		}
	case errors.As(err, &hostname):
		return fmt.Sprintf("TLS certificate is not for %s", hostname.Host)
	case errors.As(err, &unknown):
		return "TLS certificate not trusted (unknown authority)"
	case errors.As(err, &record), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "TLS handshake failed: the server does not speak TLS"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), isTimeout(err):
		return fmt.Sprintf("timeout after %s", timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return "no such host: " + dns.Name
		}
		return "DNS: " + dns.Err
	case errors.As(err, &addrErr):
		return "no address of this family: " + addrErr.Err
	}
	return err.Error()
}

// reasonClass sorts a probe error into the kinds reason distinguishes, in
// the same order of precedence.
func reasonClass(err error) string {
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
		return "http_status"
	case errors.As(err, &invalid), errors.As(err, &hostname), errors.As(err, &unknown), errors.As(err, &record),
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "tls"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), isTimeout(err):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH), errors.As(err, &addrErr):
		return "unreachable"
	case errors.As(err, &dns):
		return "dns"
	}
	return "other"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
