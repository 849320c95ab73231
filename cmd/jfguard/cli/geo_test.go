package cli

import (
	"strings"
	"testing"

	"github.com/jfguard/jfguard/projections/usecase/geo/geotest"
)

// A geolocation database that is missing or not one stops startup, naming the
// setting and the fix; a good one and the policy switch are accepted.
func TestGeoDatabaseIsCheckedAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	garbage := writeFile(t, dir, "GeoLite2-City.mmdb", strings.Repeat("not a MaxMind database\n", 50))
	for _, path := range []string{dir + "/missing.mmdb", garbage} {
		s, err := LoadSettings(writeFile(t, t.TempDir(), "jfguard.yaml", "data_dir: "+dir+"\ngeo:\n  database_file: "+path+"\n"), true, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Resolve()
		if err == nil || !strings.Contains(err.Error(), "geo.database_file") || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "MaxMind account") {
			t.Errorf("%s: %v", path, err)
		}
	}
	good := geotest.Write(t, geotest.Default)
	s, err := LoadSettings(writeFile(t, t.TempDir(), "jfguard.yaml", "data_dir: "+dir+"\ngeo:\n  database_file: "+good+"\nsecurity:\n  new_location_second_factor: true\n"), true, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if !r.Policy.NewLocationSecondFactor {
		t.Error("security.new_location_second_factor not applied")
	}
}
