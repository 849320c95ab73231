package jellyfin

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"testing"
)

func TestMediaReader(t *testing.T) {
	t.Parallel()
	const size = 1000
	m := NewMediaReader(size)
	all, err := io.ReadAll(m)
	if err != nil || len(all) != size {
		t.Fatalf("ReadAll: %d bytes, %v", len(all), err)
	}
	if !bytes.Equal(all, mediaBytes(0, size)) {
		t.Fatal("Read disagrees with MediaByte")
	}
	for _, off := range []int64{0, 1, 7, 8, 9, 500, 993} {
		buf := make([]byte, 13)
		n, err := m.ReadAt(buf, off)
		want := min(13, size-off)
		if int64(n) != want || !bytes.Equal(buf[:n], all[off:off+want]) {
			t.Errorf("ReadAt(%d): %d bytes, %v", off, n, err)
		}
		if want < 13 && err != io.EOF {
			t.Errorf("ReadAt(%d) short read without io.EOF", off)
		}
	}
	if pos, err := m.Seek(-10, io.SeekEnd); err != nil || pos != size-10 {
		t.Fatalf("Seek: %d %v", pos, err)
	}
	tail, _ := io.ReadAll(m)
	if !bytes.Equal(tail, all[size-10:]) {
		t.Error("read after Seek disagrees")
	}
	// A body that repeats or shifts would hide a proxy's mistakes.
	if bytes.Equal(all[:8], all[8:16]) || bytes.Equal(all[:100], all[1:101]) {
		t.Error("the generator repeats itself")
	}
}

func TestStreamRanges(t *testing.T) {
	t.Parallel()
	const size = 1 << 20
	f := newFixture(t, Options{MediaSize: size})
	alice := f.signIn(t, "alice", alicePassword, "d1")
	stream := "/Videos/" + f.srv.MediaItemID() + "/stream.mp4?static=true&ApiKey=" + alice.AccessToken

	full := f.call(t, http.MethodGet, stream, nil)
	if full.status != http.StatusOK || full.header.Get("Content-Type") != "video/mp4" || full.header.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("full: %d %v", full.status, full.header)
	}
	if !bytes.Equal(full.body, mediaBytes(0, size)) {
		t.Fatal("full body disagrees with MediaByte")
	}

	tests := []struct {
		rng          string
		first, count int64
	}{
		{"bytes=0-0", 0, 1},
		{"bytes=100-199", 100, 100},
		{"bytes=1000-", 1000, size - 1000},
		{"bytes=-500", size - 500, 500},
		{"bytes=524287-524300", 524287, 14},
	}
	for _, tt := range tests {
		res := f.call(t, http.MethodGet, stream, nil, "Range", tt.rng)
		wantRange := "bytes " + strconv.FormatInt(tt.first, 10) + "-" + strconv.FormatInt(tt.first+tt.count-1, 10) + "/" + strconv.Itoa(size)
		if res.status != http.StatusPartialContent || res.header.Get("Content-Range") != wantRange {
			t.Errorf("%s: %d %q, want 206 %q", tt.rng, res.status, res.header.Get("Content-Range"), wantRange)
			continue
		}
		if !bytes.Equal(res.body, mediaBytes(tt.first, tt.count)) {
			t.Errorf("%s: body disagrees with MediaByte", tt.rng)
		}
	}
	if res := f.call(t, http.MethodGet, stream, nil, "Range", "bytes=2000000-"); res.status != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("range past the end: status %d, want 416", res.status)
	}
	head := f.call(t, http.MethodHead, stream, nil)
	if head.status != http.StatusOK || head.header.Get("Content-Length") != strconv.Itoa(size) || len(head.body) != 0 {
		t.Errorf("HEAD: %d %v", head.status, head.header)
	}
	plain := "/Videos/" + f.srv.MediaItemID() + "/stream"
	if res := f.call(t, http.MethodGet, plain, nil, "Authorization", tokenHeader(alice.AccessToken), "Range", "bytes=0-9"); res.status != http.StatusPartialContent {
		t.Errorf("/stream with a header token: status %d", res.status)
	}
}

func TestStreamAccess(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{MediaSize: 64})
	stream := "/Videos/" + f.srv.MediaItemID() + "/stream"
	if res := f.call(t, http.MethodGet, stream, nil); res.status != http.StatusUnauthorized {
		t.Errorf("no token: status %d, want 401", res.status)
	}
	if res := f.call(t, http.MethodGet, "/Videos/00000000000000000000000000000001/stream?ApiKey="+f.apiKey, nil); res.status != http.StatusNotFound {
		t.Errorf("unknown item: status %d, want 404", res.status)
	}
	if res := f.call(t, http.MethodGet, "/Videos/"+f.srv.MediaItemID()+"/stream.mkv?ApiKey="+f.apiKey, nil); res.status != http.StatusNotFound {
		t.Errorf("other container: status %d, want 404", res.status)
	}

	open := newFixture(t, Options{MediaSize: 64, AnonymousStreams: true})
	res := open.call(t, http.MethodGet, "/Videos/"+open.srv.MediaItemID()+"/stream", nil)
	if res.status != http.StatusOK || !bytes.Equal(res.body, mediaBytes(0, 64)) {
		t.Errorf("AnonymousStreams without a token: status %d", res.status)
	}
}

func TestItem(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	res := f.call(t, http.MethodGet, "/Items/"+f.srv.MediaItemID(), nil, "Authorization", tokenHeader(f.apiKey))
	var item struct {
		ID        string `json:"Id"`
		Type      string
		MediaType string
	}
	res.json(t, &item)
	if res.status != http.StatusOK || item.ID != f.srv.MediaItemID() || item.Type != "Movie" || item.MediaType != "Video" {
		t.Errorf("%d %+v", res.status, item)
	}
	if res := f.call(t, http.MethodGet, "/Items/"+f.srv.MediaItemID(), nil); res.status != http.StatusUnauthorized {
		t.Errorf("no token: status %d", res.status)
	}
}
