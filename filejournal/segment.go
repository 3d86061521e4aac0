package filejournal

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// segmentFormat is the format version of the lines that segments add to the
// transition and snapshot records of [events.FormatVersion]: a segment's
// header, a retention record and a seal. A build that reads only version 2
// refuses a file holding them as a newer format, and never modifies it.
const segmentFormat = 3

// The kinds of the lines a segment adds.
const (
	headerKind    = "segment"
	retentionKind = "retention"
	sealKind      = "seal"
)

// maxSealLine bounds the seal line of a sealed segment, which lists every
// breaker with records in the segment.
const maxSealLine = 64 << 20

// header is the first line of a segment written by this version:
//
//	{"v":3,"kind":"segment","segment":43,"prev":"sha256:…","created":"2026-12-02T10:00:00Z"}
//
// prev is the link hash of the whole sealed segment before it (absent for
// the first segment), and removed_through the newest segment a retention
// pass had removed when it was created (absent for none).
type header struct {
	Segment        uint64
	Prev           string
	Created        time.Time
	RemovedThrough uint64
}

type wireHeader struct {
	V              *int       `json:"v"`
	Kind           *string    `json:"kind"`
	Segment        *uint64    `json:"segment"`
	Prev           string     `json:"prev,omitempty"`
	Created        *time.Time `json:"created"`
	RemovedThrough uint64     `json:"removed_through,omitempty"`
}

func marshalHeader(h header) ([]byte, error) {
	v, kind, created := segmentFormat, headerKind, h.Created.UTC()
	return json.Marshal(wireHeader{V: &v, Kind: &kind, Segment: &h.Segment, Prev: h.Prev, Created: &created, RemovedThrough: h.RemovedThrough})
}

func unmarshalHeader(line []byte) (header, error) {
	var w wireHeader
	if err := decodeStrict(line, &w); err != nil {
		return header{}, err
	}
	switch {
	case w.Segment == nil || *w.Segment == 0:
		return header{}, fmt.Errorf("%w: segment header without a segment number", events.ErrDecode)
	case w.Created == nil:
		return header{}, fmt.Errorf("%w: segment header without created", events.ErrDecode)
	case w.Prev != "" && !isLinkHash(w.Prev):
		return header{}, fmt.Errorf("%w: segment header prev %q is not a link hash", events.ErrDecode, w.Prev)
	case w.RemovedThrough >= *w.Segment:
		return header{}, fmt.Errorf("%w: segment %d says segments through %d were removed", events.ErrDecode, *w.Segment, w.RemovedThrough)
	}
	return header{Segment: *w.Segment, Prev: w.Prev, Created: w.Created.UTC(), RemovedThrough: w.RemovedThrough}, nil
}

// A segment's header and a retention record are linked to by no record: in
// a keyed journal each carries a "mac", written last, the keyed link hash of
// the line without it, so that no one without the key can write one (a
// retention record that pretends segments were removed) or change one.
const macField = `,"mac":"`

// withMAC returns line, a JSON object, with its mac under key as its last
// field; without a key, line as it is.
func withMAC(line, key []byte) []byte {
	if key == nil {
		return line
	}
	mac := events.LinkHash(line, key)
	out := append(line[:len(line)-1:len(line)-1], macField...)
	return append(append(out, mac...), `"}`...)
}

// macOf splits a line written by withMAC into the line it was and its mac
// ("" for a line without one).
func macOf(line []byte) (body []byte, mac string) {
	i := bytes.LastIndex(line, []byte(macField))
	if i < 0 || !bytes.HasSuffix(line, []byte(`"}`)) || i+len(macField) > len(line)-2 {
		return line, ""
	}
	mac = string(line[i+len(macField) : len(line)-2])
	return append(line[:i:i], '}'), mac
}

// retention is a retention record: before a retention pass removes sealed
// segments, the active segment records which, so that an audit tells them
// from segments lost or deleted by hand.
//
//	{"v":3,"kind":"retention","removed_through":40,"time":"2026-12-02T10:00:00Z","policy":"max_age 8760h0m0s"}
type retention struct {
	RemovedThrough uint64
	Time           time.Time
	Policy         string
}

type wireRetention struct {
	V              *int       `json:"v"`
	Kind           *string    `json:"kind"`
	RemovedThrough *uint64    `json:"removed_through"`
	Time           *time.Time `json:"time"`
	Policy         string     `json:"policy,omitempty"`
}

func marshalRetention(r retention) ([]byte, error) {
	v, kind, tm := segmentFormat, retentionKind, r.Time.UTC()
	return json.Marshal(wireRetention{V: &v, Kind: &kind, RemovedThrough: &r.RemovedThrough, Time: &tm, Policy: r.Policy})
}

func unmarshalRetention(line []byte) (retention, error) {
	var w wireRetention
	if err := decodeStrict(line, &w); err != nil {
		return retention{}, err
	}
	if w.RemovedThrough == nil || *w.RemovedThrough == 0 || w.Time == nil {
		return retention{}, fmt.Errorf("%w: retention record without removed_through or time", events.ErrDecode)
	}
	return retention{RemovedThrough: *w.RemovedThrough, Time: w.Time.UTC(), Policy: w.Policy}, nil
}

// SegmentIndex is the last line of a sealed segment: what it holds, so that
// an audit skips a segment outside its time range, or without the breakers
// it asks for, without decoding it.
//
//	{"v":3,"kind":"seal","segment":42,"bytes":4194399,"records":20113,"first":"…","last":"…",
//	 "breakers":[{"breaker":"payments","first_seq":3001,"last_seq":5000,"first":"…","last":"…","head":"sha256:…"}]}
type SegmentIndex struct {
	// Segment is the segment's number.
	Segment uint64 `json:"segment"`
	// Bytes is the length of the segment before its seal line.
	Bytes int64 `json:"bytes"`
	// Records is the number of transition records in the segment.
	Records int `json:"records"`
	// First and Last are the earliest and the latest time of its
	// transition records; zero when it holds none.
	First time.Time `json:"first,omitzero"`
	Last  time.Time `json:"last,omitzero"`
	// Breakers lists, by name, the breakers with transition records in
	// the segment.
	Breakers []BreakerRange `json:"breakers"`
}

// BreakerRange is what a sealed segment holds of one breaker.
type BreakerRange struct {
	Breaker string `json:"breaker"`
	// FirstSeq and LastSeq are the sequence numbers of its first and last
	// record in the segment; First and Last the earliest and latest time.
	FirstSeq uint64    `json:"first_seq"`
	LastSeq  uint64    `json:"last_seq"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
	// Head is the link hash of its last record in the segment.
	Head string `json:"head,omitempty"`
}

// Covers reports whether the segment may hold a record of a breaker that
// keep accepts (nil: any) at a time in [since, until) (a zero bound is
// open).
func (x *SegmentIndex) Covers(keep func(breaker string) bool, since, until time.Time) bool {
	for _, r := range x.Breakers {
		if keep != nil && !keep(r.Breaker) {
			continue
		}
		if (since.IsZero() || !r.Last.Before(since)) && (until.IsZero() || r.First.Before(until)) {
			return true
		}
	}
	return false
}

type wireSeal struct {
	V    *int    `json:"v"`
	Kind *string `json:"kind"`
	SegmentIndex
}

func marshalSeal(x SegmentIndex) ([]byte, error) {
	v, kind := segmentFormat, sealKind
	return json.Marshal(wireSeal{V: &v, Kind: &kind, SegmentIndex: x})
}

func unmarshalSeal(line []byte) (SegmentIndex, error) {
	var w wireSeal
	if err := decodeStrict(line, &w); err != nil {
		return SegmentIndex{}, err
	}
	x := w.SegmentIndex
	if x.Segment == 0 || x.Bytes <= 0 || x.Records < 0 {
		return SegmentIndex{}, fmt.Errorf("%w: seal without a segment number or length", events.ErrDecode)
	}
	for i, r := range x.Breakers {
		if r.Breaker == "" || r.FirstSeq == 0 || r.LastSeq < r.FirstSeq || r.Last.Before(r.First) {
			return SegmentIndex{}, fmt.Errorf("%w: seal breaker %d (%q): a range that holds no record", events.ErrDecode, i, r.Breaker)
		}
		if i > 0 && x.Breakers[i-1].Breaker >= r.Breaker {
			return SegmentIndex{}, fmt.Errorf("%w: seal breakers not sorted by name at %q", events.ErrDecode, r.Breaker)
		}
	}
	return x, nil
}

// decodeStrict decodes one JSON object of a segment line into v.
func decodeStrict(line []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", events.ErrDecode, err)
	}
	if len(bytes.TrimSpace(line[dec.InputOffset():])) != 0 {
		return fmt.Errorf("%w: trailing data after the record", events.ErrDecode)
	}
	return nil
}

// isLinkHash reports whether h has the form of a link hash.
func isLinkHash(h string) bool {
	for _, p := range []string{events.LinkSHA256, events.LinkHMACSHA256} {
		if rest, ok := strings.CutPrefix(h, p); ok {
			return len(rest) == 32 && strings.Trim(rest, "0123456789abcdef") == ""
		}
	}
	return false
}

// segmentName returns the name of sealed segment n of the journal at real.
func segmentName(real string, n uint64) string { return fmt.Sprintf("%s.%08d", real, n) }

// sealedNumber returns the number of a sealed segment's file name, given the
// base name of its journal, and whether name is one.
func sealedNumber(base, name string) (uint64, bool) {
	digits, ok := strings.CutPrefix(name, base+".")
	if !ok || len(digits) < 8 || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil && n > 0
}

// sealedFile is a sealed segment found next to a journal.
type sealedFile struct {
	n    uint64
	path string
	size int64
	idx  *indexCell // its seal line, once read; shared by the copies of the list
}

// indexCell holds a sealed segment's seal line once it has been read.
type indexCell struct {
	mu sync.Mutex
	x  *SegmentIndex
}

func newSealedFile(n uint64, path string, size int64, x *SegmentIndex) sealedFile {
	return sealedFile{n: n, path: path, size: size, idx: &indexCell{x: x}}
}

// listSealed returns the sealed segments next to the journal at real,
// oldest first. A name of a sealed segment that is not a regular file (a
// directory, a FIFO, a device) is an error matching ErrForeignSegment: it
// is never opened, so that a FIFO cannot make a reader wait.
func listSealed(real string) ([]sealedFile, error) {
	dir, base := filepath.Dir(real), filepath.Base(real)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []sealedFile
	for _, e := range entries {
		n, ok := sealedNumber(base, e.Name())
		if !ok {
			continue
		}
		path := filepath.Join(dir, e.Name())
		st, err := os.Stat(path) // follows a symbolic link, as opening it would
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since the directory was read
		}
		if err != nil {
			return nil, err
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("%w: %s is named as sealed segment %d but is not a regular file (mode %v)", ErrForeignSegment, path, n, st.Mode())
		}
		out = append(out, newSealedFile(n, path, st.Size(), nil))
	}
	slices.SortFunc(out, func(a, b sealedFile) int { return cmp.Compare(a.n, b.n) })
	for i := 1; i < len(out); i++ {
		if out[i].n == out[i-1].n {
			return nil, fmt.Errorf("%w: %s and %s are both segment %d", ErrForeignSegment, out[i-1].path, out[i].path, out[i].n)
		}
	}
	return out, nil
}

// before returns the segments numbered below n.
func before(sealed []sealedFile, n uint64) []sealedFile {
	i := 0
	for i < len(sealed) && sealed[i].n < n {
		i++
	}
	return sealed[:i]
}

// readSealLine reads the seal line at the end of a sealed segment of size
// bytes, without reading the rest, and returns it with its offset. An
// error matches ErrCorrupt or ErrNewerFormat.
func readSealLine(r io.ReaderAt, size int64) (SegmentIndex, int64, error) {
	x, at, err := readLastLine(r, size)
	if err != nil && !errors.Is(err, ErrNewerFormat) && !errors.Is(err, ErrCorrupt) {
		var pe *fs.PathError
		if !errors.As(err, &pe) {
			err = fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
	return x, at, err
}

func readLastLine(r io.ReaderAt, size int64) (SegmentIndex, int64, error) {
	if size < 2 {
		return SegmentIndex{}, 0, errNoSeal
	}
	var last [1]byte
	if _, err := r.ReadAt(last[:], size-1); err != nil {
		return SegmentIndex{}, 0, err
	}
	if last[0] != '\n' {
		return SegmentIndex{}, 0, errNoSeal
	}
	// Read backwards, in growing chunks, to the newline before the last line.
	end := size - 1
	for chunk := int64(16 << 10); ; chunk *= 4 {
		start := max(end-chunk, 0)
		buf := make([]byte, end-start)
		if _, err := r.ReadAt(buf, start); err != nil {
			return SegmentIndex{}, 0, err
		}
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 || start == 0 {
			line := buf[i+1:]
			kind, err := probeLine(line)
			if err != nil {
				return SegmentIndex{}, 0, err
			}
			if kind != lineSeal {
				return SegmentIndex{}, 0, errNoSeal
			}
			x, err := unmarshalSeal(line)
			return x, start + int64(i) + 1, err
		}
		if end-start >= maxSealLine {
			return SegmentIndex{}, 0, fmt.Errorf("%w: last line longer than %d bytes", events.ErrDecode, maxSealLine)
		}
	}
}

// errNoSeal: a sealed segment does not end with its seal line.
var errNoSeal = fmt.Errorf("%w: the file does not end with a seal line", ErrCorrupt)

// readHeader returns the header of the segment r holds, or nil when its
// first line is not one (a file written before segments, or an empty
// one). A first line of a newer format is an error matching
// ErrNewerFormat, naming line 1: the segment's number cannot be known. A
// bad first line is left to the scan of the whole file to report.
func readHeader(r io.ReaderAt) (*header, error) {
	for size := 4 << 10; ; size *= 4 {
		size = min(size, events.MaxRecordSize+1)
		buf := make([]byte, size)
		n, err := r.ReadAt(buf, 0)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		line, _, ok := bytes.Cut(buf[:n], []byte{'\n'})
		if !ok {
			if n < size || size > events.MaxRecordSize {
				return nil, nil
			}
			continue // a first line longer than what was read
		}
		kind, err := probeLine(bytes.TrimSpace(line))
		if errors.Is(err, ErrNewerFormat) {
			return nil, &events.RecordError{Position: 1, Err: err}
		}
		if err != nil || kind != lineHeader {
			return nil, nil
		}
		h, err := unmarshalHeader(bytes.TrimSpace(line))
		if err != nil {
			return nil, nil
		}
		return &h, nil
	}
}
