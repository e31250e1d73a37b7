package nginx

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mirrorkit/mirrorkit/internal/testutil"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestStartServesAutoindex(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "hello.txt"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "staged"), 0o750); err != nil {
		t.Fatal(err)
	}
	s := Start(t, root, AccessLog())
	code, body := get(t, s.URL())
	if code != 200 || !strings.Contains(body, `<a href="hello.txt">hello.txt</a>`) {
		t.Fatalf("GET / = %d:\n%s", code, body)
	}
	if os.Geteuid() == 0 {
		if code, _ := get(t, s.URL()+"staged/"); code != http.StatusForbidden {
			t.Errorf("GET /staged/ as nobody = %d, want 403", code)
		}
	}
	if got := s.Requests(); !slices.Contains(got, "GET / 200") {
		t.Errorf("access log = %q, want %q in it", got, "GET / 200")
	}
}

func TestStartJSON(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "a"), []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := Start(t, root, JSON())
	code, body := get(t, s.URL())
	if code != 200 || !strings.Contains(body, `"name":"a", "type":"file"`) || !strings.Contains(body, `"size":3`) {
		t.Fatalf("GET / = %d:\n%s", code, body)
	}
}

func TestStopLeavesNoProcess(t *testing.T) {
	s := Start(t, t.TempDir())
	master := s.PID()
	workers := testutil.ChildPIDs(master)
	if len(workers) == 0 {
		t.Fatalf("no workers under master %d", master)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range append(workers, master) {
		if testutil.ProcessAlive(pid) {
			t.Errorf("process %d still alive after Stop", pid)
		}
	}
	if _, err := http.Get(s.URL()); err == nil {
		t.Error("server still answers after Stop")
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}
