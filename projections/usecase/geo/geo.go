// Package geo reads a MaxMind-format geolocation database (GeoLite2 City or
// Country, or a commercial GeoIP2 one) from a local file: where a sign-in's address
// is, for the new-location and impossible-travel alerts. jfguard never downloads
// the database: the operator fetches it with their own MaxMind account.
package geo

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/jfguard/jfguard/domain"
)

// DB is an open geolocation database.
type DB struct {
	r *maxminddb.Reader
}

// record is the part of a GeoLite2/GeoIP2 City or Country record jfguard reads.
type record struct {
	Country struct {
		ISOCode string            `maxminddb:"iso_code"`
		Names   map[string]string `maxminddb:"names"`
	} `maxminddb:"country"`
	City struct {
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"city"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

// Open opens a database file and checks that it is one jfguard can read: a
// MaxMind DB whose type names a City or Country database. The error says what
// is wrong with the file, for a startup message.
func Open(path string) (*DB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open geolocation database: %w", err)
	}
	t := r.Metadata.DatabaseType
	if !strings.Contains(t, "City") && !strings.Contains(t, "Country") {
		_ = r.Close()
		return nil, fmt.Errorf("geolocation database is of type %q, not a City or Country database", t)
	}
	if err := r.Verify(); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("geolocation database is corrupt: %w", err)
	}
	return &DB{r: r}, nil
}

// Close releases the file.
func (d *DB) Close() error { return d.r.Close() }

// Locate says where an address is: English names of country and city, and
// coordinates when the database has them. An address the database does not
// cover is the unknown (zero) place, not an error.
func (d *DB) Locate(ip netip.Addr) (domain.Place, error) {
	var rec record
	res := d.r.Lookup(ip.Unmap())
	if err := res.Err(); err != nil {
		return domain.Place{}, fmt.Errorf("geolocate: %w", err)
	}
	if !res.Found() {
		return domain.Place{}, nil
	}
	if err := res.Decode(&rec); err != nil {
		return domain.Place{}, fmt.Errorf("geolocate: %w", err)
	}
	p := domain.Place{Country: rec.Country.Names["en"], City: rec.City.Names["en"]}
	if p.Country == "" {
		p.Country = rec.Country.ISOCode
	}
	if rec.Location.Latitude != nil && rec.Location.Longitude != nil {
		p.Lat, p.Lon, p.Located = *rec.Location.Latitude, *rec.Location.Longitude, true
	}
	return p, nil
}
