package jellyfin

import (
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"strings"
)

// MediaByte returns byte i of the synthetic media body. Every byte is
// computed from its offset alone, so the body is never held in memory and a
// test can check any range it received without reading the rest.
func MediaByte(i int64) byte {
	return byte(mix64(uint64(i)>>3) >> (8 * (uint64(i) & 7)))
}

// mix64 is the SplitMix64 finaliser: a cheap bijection whose output looks
// random, so that a proxy that reorders, drops or repeats bytes is caught.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// MediaReader reads the synthetic media body of a given size. It implements
// io.ReadSeeker for http.ServeContent and io.ReaderAt for tests.
type MediaReader struct {
	size int64
	off  int64
}

// NewMediaReader returns a reader positioned at the start of a body of size
// bytes.
func NewMediaReader(size int64) *MediaReader {
	return &MediaReader{size: size}
}

// Read reads the next bytes of the body.
func (m *MediaReader) Read(p []byte) (int, error) {
	n, err := m.ReadAt(p, m.off)
	m.off += int64(n)
	return n, err
}

// ReadAt reads len(p) bytes from offset off.
func (m *MediaReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("jellyfin: negative offset")
	}
	if off >= m.size {
		return 0, io.EOF
	}
	n := len(p)
	if rest := m.size - off; int64(n) > rest {
		n = int(rest)
	}
	var block [8]byte
	for i := 0; i < n; {
		pos := off + int64(i)
		binary.LittleEndian.PutUint64(block[:], mix64(uint64(pos)>>3))
		i += copy(p[i:n], block[pos&7:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Seek sets the offset of the next Read.
func (m *MediaReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += m.off
	case io.SeekEnd:
		offset += m.size
	default:
		return 0, errors.New("jellyfin: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("jellyfin: negative position")
	}
	m.off = offset
	return offset, nil
}

// handleStream is GET and HEAD /Videos/{itemId}/stream and
// /Videos/{itemId}/stream.{container}: the item's file served as it is
// (Jellyfin's static streaming), with Range support. Only the mp4 container
// is served; Jellyfin would transcode to others.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request, req *request) {
	id, ok := parseGUID(req.params["itemId"])
	if !ok {
		writeValidationProblem(w, "itemId", "The value '"+req.params["itemId"]+"' is not valid.")
		return
	}
	container, hasContainer := req.params["container"]
	if id != s.itemID || hasContainer && !strings.EqualFold(container, "mp4") {
		writeException(w, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "video/mp4")
	http.ServeContent(w, r, "", s.started, NewMediaReader(s.mediaSize))
}

// handleItem is GET /Items/{itemId}: the one media item as a BaseItemDto.
func (s *Server) handleItem(w http.ResponseWriter, r *http.Request, req *request) {
	id, ok := parseGUID(req.params["itemId"])
	if !ok {
		writeValidationProblem(w, "itemId", "The value '"+req.params["itemId"]+"' is not valid.")
		return
	}
	if raw, ok := queryValue(r, "userId"); ok && raw != "" {
		if _, valid := parseGUID(raw); !valid {
			writeValidationProblem(w, "userId", "The value '"+raw+"' is not valid.")
			return
		}
	}
	if id != s.itemID {
		writeProblem(w, http.StatusNotFound, "")
		return
	}
	const ticksPerSecond = 10_000_000
	writeJSON(w, http.StatusOK, baseItemDto{
		Name:              "Stand-in Test Pattern",
		ServerID:          s.serverID,
		ID:                s.itemID,
		DateCreated:       jfTime(s.started),
		CanDownload:       true,
		Container:         "mp4",
		SortName:          "stand-in test pattern",
		ProductionYear:    s.started.Year(),
		RunTimeTicks:      60 * ticksPerSecond,
		Type:              "Movie",
		LocationType:      "FileSystem",
		MediaType:         "Video",
		VideoType:         "VideoFile",
		Width:             1920,
		Height:            1080,
		ImageTags:         map[string]string{},
		BackdropImageTags: []string{},
	})
}
