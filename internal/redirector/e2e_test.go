package redirector

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/testutil"
	"github.com/mirrorkit/mirrorkit/internal/testutil/nginx"
)

// Real clients follow the redirect to a real web server and get the bytes.
func TestRealClientsFollowRedirects(t *testing.T) {
	curl := testutil.RequireTool(t, "curl")
	wget := testutil.RequireTool(t, "wget")
	w := newWorld(t, Config{Locate: locateByPrefix})
	web := nginx.Start(t, w.origin, nginx.AccessLog())
	// The German mirror is the nginx server on loopback.
	w.mirrors[0].URLs = registry.URLs{HTTP: web.URL()}
	w.refresh(t, nil)
	front := httptest.NewServer(w.srv)
	defer front.Close()
	want, err := os.ReadFile(filepath.Join(w.origin, "pub", "with space.iso"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	for name, args := range map[string][]string{
		"curl": {curl, "-sSfL", "-o", filepath.Join(dir, "curl.out"), front.URL + "/pub/with%20space.iso"},
		"wget": {wget, "-q", "-O", filepath.Join(dir, "wget.out"), front.URL + "/pub/with%20space.iso"},
	} {
		out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", name, err, out)
		}
		got, _ := os.ReadFile(filepath.Join(dir, name+".out"))
		if !bytes.Equal(got, want) {
			t.Fatalf("%s downloaded %d bytes, want the origin's %d", name, len(got), len(want))
		}
	}
	// The mirror really served it: nginx logged the request.
	if _, ok := web.Await(func(lines []string) bool {
		for _, l := range lines {
			if strings.Contains(l, "with%20space.iso") {
				return true
			}
		}
		return false
	}); !ok {
		t.Fatal("nginx never served the file: the download did not go through the mirror")
	}
}
