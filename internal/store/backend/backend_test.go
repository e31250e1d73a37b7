package backend

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrorkit/mirrorkit/internal/store"
)

func TestParse(t *testing.T) {
	good := map[string][2]string{
		"sqlite:mirrorkit.db":               {"sqlite", "mirrorkit.db"},
		"sqlite:///var/lib/mk/reg.db":       {"sqlite", "/var/lib/mk/reg.db"},
		"sqlite://rel.db":                   {"sqlite", "rel.db"},
		"./mirrorkit.db":                    {"sqlite", "./mirrorkit.db"},
		"/srv/mirrorkit.db":                 {"sqlite", "/srv/mirrorkit.db"},
		"postgres://mk@db:5432/mk":          {"postgres", "postgres://mk@db:5432/mk"},
		"postgresql://mk@db/mk":             {"postgres", "postgresql://mk@db/mk"},
		"host=db dbname=mirrorkit user=mk ": {"postgres", "host=db dbname=mirrorkit user=mk"},
	}
	for in, want := range good {
		k, target, err := Parse(in)
		if err != nil || string(k) != want[0] || target != want[1] {
			t.Errorf("Parse(%q) = %s %q %v, want %v", in, k, target, err, want)
		}
	}
	for _, bad := range []string{"", "  ", "mysql://root@db/x", "sqlite:", "redis://x"} {
		if _, _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://mk:s3cret@db/mk":        "postgres://mk:xxxxx@db/mk",
		"postgres://mk@db/mk":               "postgres://mk@db/mk",
		"host=db password=s3cret dbname=mk": "host=db password=xxxxx dbname=mk",
		"sqlite:mirrorkit.db":               "sqlite:mirrorkit.db",
	} {
		if got := Redact(in); got != want || strings.Contains(got, "s3cret") {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOpenSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	st, err := Open(context.Background(), "sqlite:"+path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Backend() != "sqlite" {
		t.Fatalf("backend %s", st.Backend())
	}
}
