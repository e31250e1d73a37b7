package ftpd

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/testutil"
)

// session logs in over a raw control connection and returns the reply to
// PASS (or to USER when no password is asked).
func login(t *testing.T, addr, user, pass string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	reply := func() string {
		t.Helper()
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("read reply: %v", err)
			}
			if len(line) >= 4 && line[3] == ' ' {
				return strings.TrimRight(line, "\r\n")
			}
		}
	}
	send := func(cmd string) string {
		t.Helper()
		if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
			t.Fatal(err)
		}
		return reply()
	}
	if got := reply(); !strings.HasPrefix(got, "220 ") {
		t.Fatalf("greeting %q", got)
	}
	got := send("USER " + user)
	if strings.HasPrefix(got, "331") {
		got = send("PASS " + pass)
	}
	return got
}

func TestStartServesAnonymousAndUser(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "hello.txt"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := Start(t, root, WithUser("mirror", "s3cret"))
	if got := login(t, s.Addr(), "anonymous", "test@"); !strings.HasPrefix(got, "230") {
		t.Errorf("anonymous login: %q", got)
	}
	if got := login(t, s.Addr(), "mirror", "s3cret"); !strings.HasPrefix(got, "230") {
		t.Errorf("user login: %q", got)
	}
	if got := login(t, s.Addr(), "mirror", "wrong"); !strings.HasPrefix(got, "530") {
		t.Errorf("wrong password: %q", got)
	}
	if want := "ftp://mirror@" + s.Addr() + "/"; s.UserURL() != want {
		t.Errorf("UserURL = %q, want %q", s.UserURL(), want)
	}
	// The host's passwd file is untouched: the ftp account lives only in
	// the server's mount namespace.
	if b, err := os.ReadFile("/etc/passwd"); err != nil || strings.Contains(string(b), ":"+root+":") {
		t.Errorf("host /etc/passwd mentions the root (err %v)", err)
	}
}

// Without WithUser the server runs with -e (anonymous only), and pure-ftpd
// then logs any user name in as anonymous instead of refusing it.
func TestAnonymousOnlyWithoutUser(t *testing.T) {
	s := Start(t, t.TempDir())
	if got := login(t, s.Addr(), "mirror", "x"); got != "230 Anonymous user logged in" {
		t.Errorf("login on an anonymous-only server: %q", got)
	}
}

func TestStopLeavesNothing(t *testing.T) {
	s := Start(t, t.TempDir())
	// An open session forks a process of its own; Stop must end it too.
	c, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(line, "220") {
		t.Fatalf("greeting %q, %v", line, err)
	}
	pid := s.PID()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("server %d still exists after Stop", pid)
	}
	if left := testutil.GroupMembers(pid); len(left) != 0 {
		t.Errorf("processes %v left after Stop", left)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		t.Errorf("%s still accepts after Stop", s.Addr())
	}
}
