// Package geotest writes small GeoLite2-City-shaped databases for tests: a few
// documentation networks placed in real cities, so the location rules can be
// tried end to end without MaxMind's data.
package geotest

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// City is one network of a test database and where it is.
type City struct {
	Network             string // a CIDR
	ISOCode, Country    string
	Name                string
	Latitude, Longitude float64
}

// Default are the test database's networks: two documentation /24s on opposite
// sides of the world and one near the first.
var Default = []City{
	{Network: "192.0.2.0/24", ISOCode: "DE", Country: "Germany", Name: "Berlin", Latitude: 52.52, Longitude: 13.405},
	{Network: "198.51.100.0/24", ISOCode: "AU", Country: "Australia", Name: "Sydney", Latitude: -33.8688, Longitude: 151.2093},
	{Network: "203.0.113.0/24", ISOCode: "DE", Country: "Germany", Name: "Potsdam", Latitude: 52.3906, Longitude: 13.0645},
}

// Write writes a GeoLite2-City database of cities into t's temporary directory
// and returns its path.
func Write(t testing.TB, cities []City) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-City", Description: map[string]string{"en": "jfguard test data"}, Languages: []string{"en"}, RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cities {
		_, n, err := net.ParseCIDR(c.Network)
		if err != nil {
			t.Fatal(err)
		}
		rec := mmdbtype.Map{
			"country": mmdbtype.Map{"iso_code": mmdbtype.String(c.ISOCode), "names": mmdbtype.Map{"en": mmdbtype.String(c.Country)}},
			"city":    mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(c.Name)}},
			"location": mmdbtype.Map{
				"latitude": mmdbtype.Float64(c.Latitude), "longitude": mmdbtype.Float64(c.Longitude),
			},
		}
		if err := tree.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "GeoLite2-City.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}
