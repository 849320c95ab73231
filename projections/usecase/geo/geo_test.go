package geo_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jfguard/jfguard/projections/usecase/geo"
	"github.com/jfguard/jfguard/projections/usecase/geo/geotest"
)

func TestLocate(t *testing.T) {
	db, err := geo.Open(geotest.Write(t, geotest.Default))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, c := range []struct {
		ip            string
		country, city string
		located       bool
	}{
		{"192.0.2.7", "Germany", "Berlin", true},
		{"::ffff:198.51.100.9", "Australia", "Sydney", true},
		{"8.8.8.8", "", "", false},
		{"2001:db8::1", "", "", false},
	} {
		p, err := db.Locate(netip.MustParseAddr(c.ip))
		if err != nil {
			t.Fatalf("%s: %v", c.ip, err)
		}
		if p.Country != c.country || p.City != c.city || p.Located != c.located {
			t.Errorf("%s: got %+v", c.ip, p)
		}
	}
}

func TestOpenRefusesWhatItCannotRead(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.mmdb")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "missing.mmdb"), garbage} {
		if db, err := geo.Open(path); err == nil {
			db.Close()
			t.Errorf("%s: opened", path)
		}
	}
}
