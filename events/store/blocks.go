package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/minio/highwayhash"
)

// Reading a stream's block files directly.
//
// Delivering a stored message through the NATS protocol costs about 11 µs of CPU on a
// small machine (server and client side together), which caps a full replay at about
// 150,000 events a second whatever jfguard does with them. When the stream lives in
// the embedded server, its messages are also in block files on this machine, in the
// file store's record format:
//
//	length(4, high bit: has headers) seq(8) time(8) subject length(2) subject
//	[headers length(4) headers] payload checksum(8)
//
// with the checksum a HighwayHash-64 keyed by SHA-256("<stream>-<block index>") over
// seq, time, subject, headers and payload. Scans read the blocks for the part of the
// stream that is on disk and ask the server for the rest. Anything the reader does
// not expect (a checksum that does not match, a record cut short, a gap in the
// sequence) ends the direct read; the scan continues through the server from there,
// so the result is always what the server would have delivered.

const (
	blockHeaderSize = 22
	blockChecksum   = 8
	recordHasHeader = 1 << 31
	seqErased       = 1 << 63
	seqTombstone    = 1 << 62
)

// blockFiles lists a stream's block files in order.
func blockFiles(dir string) ([]string, []uint32, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	type blk struct {
		name  string
		index uint32
	}
	var blks []blk
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".blk") {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(name, ".blk"), 10, 32)
		if err != nil {
			continue
		}
		blks = append(blks, blk{name, uint32(n)})
	}
	sort.Slice(blks, func(i, j int) bool { return blks[i].index < blks[j].index })
	names := make([]string, len(blks))
	idx := make([]uint32, len(blks))
	for i, b := range blks {
		names[i], idx[i] = filepath.Join(dir, b.name), b.index
	}
	return names, idx, nil
}

// scanBlocks reads messages with sequences from..upTo from the stream's block files in
// dir. It returns the last sequence it read (where the server takes over) and the
// last one it delivered to fn. It stops early, without error, at anything
// unexpected; the caller continues through the server.
func scanBlocks(dir, stream, filter string, from, upTo uint64, since time.Time, fn func(RawMsg) error) (scanned, delivered uint64, err error) {
	files, indexes, ferr := blockFiles(dir)
	if ferr != nil || len(files) == 0 {
		return 0, 0, nil
	}
	var last uint64
	expect := max(from, 1)
	// Skip the blocks that end before from: a block's first record says where it
	// starts, so only the block holding from and the ones after it are read.
	start := 0
	for bi := 1; bi < len(files); bi++ {
		if first, ok := firstSeq(files[bi]); ok && first <= expect {
			start = bi
		} else {
			break
		}
	}
	for bi := start; bi < len(files); bi++ {
		path := files[bi]
		buf, err := os.ReadFile(path)
		if err != nil {
			return last, delivered, nil
		}
		key := sha256.Sum256([]byte(fmt.Sprintf("%s-%d", stream, indexes[bi])))
		hh, err := highwayhash.New64(key[:])
		if err != nil {
			return last, delivered, nil
		}
		var sum [8]byte
		for p := 0; p+blockHeaderSize <= len(buf); {
			rl := binary.LittleEndian.Uint32(buf[p:])
			hasHdr := rl&recordHasHeader != 0
			rl &^= recordHasHeader
			if rl < blockHeaderSize+blockChecksum || p+int(rl) > len(buf) {
				return last, delivered, nil // cut short: the server knows the rest
			}
			rec := buf[p : p+int(rl)]
			p += int(rl)
			seq := binary.LittleEndian.Uint64(rec[4:])
			ts := int64(binary.LittleEndian.Uint64(rec[12:]))
			if seq&(seqErased|seqTombstone) != 0 || seq == 0 {
				continue // deleted or a marker: not a message
			}
			slen := int(binary.LittleEndian.Uint16(rec[20:]))
			q := blockHeaderSize + slen
			if q > len(rec)-blockChecksum {
				return last, delivered, nil
			}
			subject := rec[blockHeaderSize:q]
			var hdr []byte
			if hasHdr {
				if q+4 > len(rec)-blockChecksum {
					return last, delivered, nil
				}
				hl := int(binary.LittleEndian.Uint32(rec[q:]))
				q += 4
				if q+hl > len(rec)-blockChecksum {
					return last, delivered, nil
				}
				hdr = rec[q : q+hl]
				q += hl
			}
			data := rec[q : len(rec)-blockChecksum]
			if seq < expect {
				continue
			}
			if seq > upTo || seq != expect {
				return last, delivered, nil // past the end, or a gap: the server says what is there
			}
			hh.Reset()
			hh.Write(rec[4:20])
			hh.Write(subject)
			if hasHdr {
				hh.Write(hdr)
			}
			hh.Write(data)
			if !bytes.Equal(hh.Sum(sum[:0]), rec[len(rec)-blockChecksum:]) {
				return last, delivered, nil // damaged: the server decides what it delivers
			}
			expect = seq + 1
			m := RawMsg{Seq: seq, Subject: string(subject), Data: data, MsgID: headerValue(hdr, "Nats-Msg-Id"), MAC: headerValue(hdr, events.MACHeader), Time: time.Unix(0, ts).UTC()}
			if (filter != "" && !subjectMatches(filter, m.Subject)) || (!since.IsZero() && m.Time.Before(since)) {
				last = seq
				if seq == upTo {
					return last, delivered, nil
				}
				continue
			}
			if err := fn(m); err != nil {
				return last, delivered, err
			}
			last, delivered = seq, seq
			if seq == upTo {
				return last, delivered, nil
			}
		}
	}
	return last, delivered, nil
}

// headerValue finds one header in a raw NATS header block ("NATS/1.0\r\nKey: v\r\n…").
func headerValue(hdr []byte, key string) string {
	for len(hdr) > 0 {
		i := bytes.Index(hdr, []byte("\r\n"))
		line := hdr
		if i >= 0 {
			line, hdr = hdr[:i], hdr[i+2:]
		} else {
			hdr = nil
		}
		if len(line) > len(key)+1 && line[len(key)] == ':' && string(line[:len(key)]) == key {
			return strings.TrimSpace(string(line[len(key)+1:]))
		}
	}
	return ""
}

// firstSeq reads the sequence of a block's first record.
func firstSeq(path string) (uint64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var hdr [blockHeaderSize]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return 0, false
	}
	seq := binary.LittleEndian.Uint64(hdr[4:]) &^ (seqErased | seqTombstone)
	return seq, seq != 0
}
