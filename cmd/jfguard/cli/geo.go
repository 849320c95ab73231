package cli

import (
	"github.com/jfguard/jfguard/projections/usecase"
	"github.com/jfguard/jfguard/projections/usecase/geo"
)

// checkGeoDatabase opens the geolocation database named by geo.database_file, if
// any, to refuse at start a file that is missing or not a readable MaxMind
// database rather than find out at the first sign-in.
func checkGeoDatabase(path string) error {
	if path == "" {
		return nil
	}
	db, err := geo.Open(path)
	if err != nil {
		return err
	}
	return db.Close()
}

// openGeo opens the geolocation database for the node's lifetime; nil (no
// places, new networks only) when none is set.
func (m *Main) openGeo() (usecase.Geolocator, error) {
	path := m.Settings.Geo.DatabaseFile
	if path == "" {
		return nil, nil
	}
	db, err := geo.Open(path)
	if err != nil {
		return nil, err
	}
	m.extras = append(m.extras, func() { _ = db.Close() })
	return db, nil
}
