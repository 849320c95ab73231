package backup

import (
	"archive/tar"
	"bytes"
	"errors"
	"testing"
)

// tarOf builds an archive of the named entries, each holding its name.
func tarOf(t testing.TB, names ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o600, Size: int64(len(n)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(n))
	}
	tw.Close()
	return b.Bytes()
}

// TestCheckRefusesWhatAnArchiveNeverHolds: entries outside the layout (a path
// that climbs out, an unknown stream or file), an entry twice, or no manifest
// make the archive corrupt, whatever else it holds.
func TestCheckRefusesWhatAnArchiveNeverHolds(t *testing.T) {
	for _, c := range []struct {
		name    string
		entries []string
	}{
		{"a path that climbs out", []string{"../master.key", manifestName, macName}},
		{"an absolute path", []string{"/etc/passwd", manifestName, macName}},
		{"a climb inside a stream", []string{"streams/JFGUARD_EVENTS/../../x", manifestName, macName}},
		{"an unknown stream", []string{"streams/OTHER/backup.json", manifestName, macName}},
		{"an unknown file", []string{"files/nkey.seed", manifestName, macName}},
		{"an entry twice", []string{"files/admin.token", "files/admin.token", manifestName, macName}},
		{"the manifest twice", []string{manifestName, manifestName, macName}},
		{"no manifest", []string{"files/admin.token"}},
		{"no MAC", []string{manifestName}},
		{"nothing", nil},
	} {
		if _, err := Check(bytes.NewReader(tarOf(t, c.entries...))); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", c.name, err)
		}
	}
}

// TestValidName: the names the layout holds, and no other.
func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		manifestName: true, macName: true, masterKeyName: true,
		"files/admin.token": true, "files/audit.key": true, "files/master.key": false,
		"streams/JFGUARD_EVENTS/backup.json": true, "streams/JFGUARD_KEYS/stream.arc.s2": true,
		"streams/JFGUARD_EVENTS/stream.tar.s2": false, "streams/JFGUARD_EVENTS": false,
		"streams/JFGUARD_EVENTS/x/backup.json": false, "./manifest.json": false, "": false,
	} {
		if got := validName(name); got != want {
			t.Errorf("validName(%q) = %v, want %v", name, got, want)
		}
	}
}

// FuzzCheck: any bytes are refused or accepted, never a panic, and what is
// accepted lists a snapshot of every stream.
func FuzzCheck(f *testing.F) {
	f.Add(tarOf(f, manifestName, macName))
	f.Add(tarOf(f, "streams/JFGUARD_EVENTS/backup.json", manifestName, macName))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Check(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, s := range Streams {
			if _, ok := m.Stream(s); !ok {
				t.Fatalf("accepted without %s", s)
			}
		}
	})
}
