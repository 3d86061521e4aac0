package filejournal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/circuitry-go/circuitry/events"
)

// fileLog is one breaker's part of a segment.
type fileLog struct {
	held            // base is the segment's checkpoint of the breaker (its snapshot record)
	baseHead string // the chain head the checkpoint carries
	baseLine int    // the line of the checkpoint's snapshot record, 0 without one
	last     []byte // the stored form of its last record in the segment, to link the next one to
	// What the segment holds of the breaker, for its seal line.
	firstSeq    uint64
	first, late time.Time
	count       int
}

// prevLink returns the PrevHash of the breaker's next record.
func (l *fileLog) prevLink(key []byte) string {
	if l.last != nil {
		return events.LinkHash(l.last, key)
	}
	return l.baseHead
}

// Record is a transition record as a segment holds it.
type Record struct {
	events.Transition
	// Since is when the breaker entered the state the record leaves: the
	// time of its previous record, or of the fold of the checkpoint before
	// it. Zero when the segment does not tell.
	Since time.Time
	// Segment is the number of the segment that holds the record (0 for a
	// journal file written before segments), and Line its line there.
	Segment uint64
	Line    int
}

// segScan reads one segment: checks every line, folds each breaker from the
// segment's checkpoint, checks each record's link to its predecessor, and
// keeps the records (keep) or hands each to each.
type segScan struct {
	check events.ChainCheck
	keep  bool
	each  func(Record) error // may be nil
	// sealed: the segment is sealed, and must end with its seal line.
	sealed bool
	// macs: check the macs of the header and retention records (Verify
	// does; the writer does not, so that a journal whose key changed
	// opens).
	macs bool

	logs      map[string]*fileLog
	hdr       *header       // nil: a file written before segments
	seal      *SegmentIndex // the seal line, once read
	removed   uint64        // the newest segment a retention record says was removed
	next      uint64        // position of the next record
	lines     int           // complete lines read
	good      int64         // offset just after the last complete, valid line
	torn      int64         // length of the incomplete line at the end, if it is a torn record
	tailStart int64         // offset of the first transition record (end of the checkpoint)
	records   int
	first     time.Time // earliest record time
	last      time.Time // latest record time
	links     [3]int    // records by events.Link
	keyed     int       // records whose link is keyed
}

func newSegScan(check events.ChainCheck, keep bool) *segScan {
	return &segScan{check: check, keep: keep, logs: make(map[string]*fileLog), tailStart: -1}
}

// segment returns the segment's number: its header's, or 0 without one.
func (s *segScan) segment() uint64 {
	if s.hdr == nil {
		return 0
	}
	return s.hdr.Segment
}

// read reads r to the end. It stops at the first line that is not a valid
// record with a *RecordError naming the line (wrapping ErrNewerFormat or
// ErrCorrupt); what was read before it is kept. Any other error is one of
// reading r.
func (s *segScan) read(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var own []byte // a line longer than the buffer, gathered
	for {
		chunk, err := br.ReadSlice('\n')
		line := chunk // in the buffer: valid until the next read
		if len(own) > 0 || errors.Is(err, bufio.ErrBufferFull) {
			own = append(own, chunk...)
			line = own
		}
		limit := events.MaxRecordSize + 1
		if s.sealed {
			limit = maxSealLine + 1
		}
		if len(line) > limit {
			return &events.RecordError{Position: s.lines + 1, Err: fmt.Errorf("%w: %w: line longer than %d bytes", ErrCorrupt, events.ErrDecode, limit-1)}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(line) > 0 {
				if err := newerTail(line); err != nil {
					return &events.RecordError{Position: s.lines + 1, Err: err}
				}
				if s.sealed || !tornTail(line) {
					return &events.RecordError{Position: s.lines + 1, Err: fmt.Errorf("%w: the last line has no newline and is not the start of a record", ErrCorrupt)}
				}
				s.torn = int64(len(line))
			}
			if s.sealed && s.seal == nil {
				return &events.RecordError{Position: s.lines + 1, Err: fmt.Errorf("%w: a sealed segment must end with its seal line; this one ends after line %d", ErrCorrupt, s.lines)}
			}
			return nil
		case err != nil:
			return err
		}
		s.lines++
		if err := s.add(bytes.TrimSpace(line)); err != nil {
			return err
		}
		if s.seal == nil {
			s.good += int64(len(line))
		}
		own = own[:0]
	}
}

// add validates one complete line and folds it in.
func (s *segScan) add(line []byte) error {
	corrupt := func(breaker string, seq uint64, err error) error {
		return &events.RecordError{Position: s.lines, Breaker: breaker, Seq: seq, Err: fmt.Errorf("%w: %w", ErrCorrupt, err)}
	}
	if s.seal != nil {
		return corrupt("", 0, errors.New("a line after the seal line, which ends a sealed segment"))
	}
	if len(line) == 0 {
		return nil
	}
	kind, err := probeLine(line)
	if errors.Is(err, ErrNewerFormat) {
		return &events.RecordError{Position: s.lines, Err: err}
	}
	if err != nil {
		return corrupt("", 0, err)
	}
	if kind != lineSeal && len(line) > events.MaxRecordSize {
		return corrupt("", 0, fmt.Errorf("%w: line longer than %d bytes", events.ErrDecode, events.MaxRecordSize))
	}
	switch kind {
	case lineHeader:
		h, err := unmarshalHeader(line)
		if err != nil {
			return corrupt("", 0, err)
		}
		if err := s.checkMAC(line, "segment header"); err != nil {
			return corrupt("", 0, err)
		}
		if s.good != 0 {
			return corrupt("", 0, errors.New("a segment header must be the first line of its file"))
		}
		s.hdr = &h
		s.removed = h.RemovedThrough
		return nil
	case lineRetention:
		r, err := unmarshalRetention(line)
		if err != nil {
			return corrupt("", 0, err)
		}
		if err := s.checkMAC(line, "retention record"); err != nil {
			return corrupt("", 0, err)
		}
		if s.hdr == nil || r.RemovedThrough >= s.hdr.Segment {
			return corrupt("", 0, fmt.Errorf("a retention record of segments through %d in segment %d", r.RemovedThrough, s.segment()))
		}
		s.removed = max(s.removed, r.RemovedThrough)
		return nil
	case lineSeal:
		if !s.sealed {
			return corrupt("", 0, errors.New("a seal line in the active segment"))
		}
		x, err := unmarshalSeal(line)
		if err != nil {
			return corrupt("", 0, err)
		}
		if err := s.checkSeal(x); err != nil {
			return corrupt("", 0, err)
		}
		s.seal = &x
		return nil
	case lineSnapshot:
		sn, err := decodeSnapshot(line)
		if err != nil {
			return corrupt("", 0, err)
		}
		if s.logs[sn.Breaker] != nil {
			return corrupt(sn.Breaker, sn.Seq, fmt.Errorf("a snapshot record of breaker %q must come before its other records, at most once", sn.Breaker))
		}
		s.logs[sn.Breaker] = &fileLog{held: held{base: sn.Snapshot, head: sn.Snapshot}, baseHead: sn.head, baseLine: s.lines}
		return nil
	}
	var t events.Transition
	if err := t.UnmarshalJSON(line); err != nil {
		return corrupt("", 0, err)
	}
	l := s.logs[t.Breaker]
	if l == nil {
		l = &fileLog{held: held{base: events.Initial(t.Breaker), head: events.Initial(t.Breaker)}}
	}
	since := l.head.Since
	head, err := l.head.Apply(t)
	if err != nil {
		return corrupt(t.Breaker, t.Seq, err)
	}
	link, err := s.link(l, t)
	if err != nil {
		return corrupt(t.Breaker, t.Seq, err)
	}
	if s.tailStart < 0 {
		s.tailStart = s.good
	}
	s.logs[t.Breaker] = l
	head.Since = t.Time
	l.head = head
	l.last = append(l.last[:0], line...)
	if l.count == 0 {
		l.firstSeq, l.first, l.late = t.Seq, t.Time, t.Time
	}
	l.count++
	l.first, l.late = minTime(l.first, t.Time), maxTime(l.late, t.Time)
	if s.records == 0 {
		s.first, s.last = t.Time, t.Time
	}
	s.first, s.last = minTime(s.first, t.Time), maxTime(s.last, t.Time)
	s.records++
	s.links[link]++
	if strings.HasPrefix(t.PrevHash, events.LinkHMACSHA256) {
		s.keyed++
	}
	if s.keep {
		l.recs = append(l.recs, t)
	}
	s.next++
	if s.each != nil {
		return s.each(Record{Transition: t, Since: since, Segment: s.segment(), Line: s.lines})
	}
	return nil
}

// checkMAC checks the mac of a line that no record links to (a segment's
// header, a retention record): with the key, it must be the keyed link
// hash of the line without it; under RequireKey, it must be there.
func (s *segScan) checkMAC(line []byte, what string) error {
	if !s.macs {
		return nil
	}
	body, mac := macOf(line)
	switch {
	case mac == "":
		if s.check.RequireKey {
			return fmt.Errorf("%w: the %s has no mac where a keyed chain is required (written, or changed, without the key?)", events.ErrBrokenChain, what)
		}
	case s.check.RequireKey && !strings.HasPrefix(mac, events.LinkHMACSHA256):
		return fmt.Errorf("%w: the %s's mac %s is not keyed where a keyed chain is required", events.ErrBrokenChain, what, mac)
	}
	if checked, ok := s.check.Matches(mac, body); mac != "" && checked && !ok {
		return fmt.Errorf("%w: the %s's mac %s is not the keyed hash of the line: it was changed, or written without the key", events.ErrBrokenChain, what, mac)
	}
	return nil
}

// link checks t's link to its predecessor in the segment, or to the
// segment's checkpoint.
func (s *segScan) link(l *fileLog, t events.Transition) (events.Link, error) {
	switch {
	case l.last != nil:
		return s.check.Link(t.Breaker, t.Seq, l.last, t.PrevHash)
	case l.base.Seq > 0:
		return s.check.LinkHead(t.Breaker, t.Seq, l.baseHead, t.PrevHash)
	case t.PrevHash != "":
		return events.Linked, &events.ChainError{Breaker: t.Breaker, Seq: t.Seq, Got: t.PrevHash,
			Reason: fmt.Sprintf("the first record of breaker %q has prev_hash %s: it links to a record that is not in the journal", t.Breaker, t.PrevHash)}
	}
	return events.Unlinked, nil // a breaker's first record: nothing to link to
}

// index returns what the segment holds, as its seal line says it.
func (s *segScan) index() SegmentIndex {
	x := SegmentIndex{Segment: max(s.segment(), 1), Bytes: s.good, Records: s.records, First: s.first, Last: s.last}
	for _, name := range sortedNames(s.logs) {
		l := s.logs[name]
		if l.count == 0 {
			continue
		}
		x.Breakers = append(x.Breakers, BreakerRange{Breaker: name, FirstSeq: l.firstSeq, LastSeq: l.head.Seq, First: l.first, Last: l.late,
			Head: events.LinkHash(l.last, s.check.Key)})
	}
	return x
}

// checkSeal checks that a seal line describes what the segment holds.
func (s *segScan) checkSeal(x SegmentIndex) error {
	want := s.index()
	switch {
	case x.Segment != want.Segment:
		return fmt.Errorf("the seal line is of segment %d, the header of segment %d", x.Segment, want.Segment)
	case x.Bytes != want.Bytes || x.Records != want.Records:
		return fmt.Errorf("the seal line says %d records in %d bytes; the segment holds %d in %d", x.Records, x.Bytes, want.Records, want.Bytes)
	case !x.First.Equal(want.First) || !x.Last.Equal(want.Last) || len(x.Breakers) != len(want.Breakers):
		return fmt.Errorf("the seal line's times or breakers do not match the segment's records")
	}
	for i, r := range x.Breakers {
		w := want.Breakers[i]
		if r.Breaker != w.Breaker || r.FirstSeq != w.FirstSeq || r.LastSeq != w.LastSeq || !r.First.Equal(w.First) || !r.Last.Equal(w.Last) {
			return fmt.Errorf("the seal line's range of breaker %q does not match the segment's records", r.Breaker)
		}
		// The head was computed with the writer's key: check it when the
		// key is at hand, or when it is bare.
		if checked, ok := s.check.Matches(r.Head, s.logs[r.Breaker].last); r.Head != "" && checked && !ok {
			return fmt.Errorf("%w: the seal line's head of breaker %q is not the link hash of its last record", events.ErrBrokenChain, r.Breaker)
		}
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
