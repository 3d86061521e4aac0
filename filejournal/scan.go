package filejournal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/circuitry-go/circuitry/events"
)

// fileLog is one breaker's part of a journal file.
type fileLog struct {
	held          // base is the fold of the records compacted away (its snapshot record)
	pos  []uint64 // each record's position in the file, for compaction to keep the order
}

// fileScan is what reading a journal file found.
type fileScan struct {
	logs  map[string]*fileLog
	next  uint64 // position of the next record
	lines int    // complete lines read
	good  int64  // offset just after the last complete, valid line
	torn  int64  // length of the incomplete line at the end, if it is a torn record
}

func newFileScan() *fileScan { return &fileScan{logs: make(map[string]*fileLog)} }

// read reads r to the end. It stops at the first line that is not a valid
// record with a *RecordError naming the line (wrapping ErrNewerFormat or
// ErrCorrupt); what was read before it is kept. Any other error is one of
// reading r.
func (s *fileScan) read(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > events.MaxRecordSize+1 {
			return &events.RecordError{Position: s.lines + 1, Err: fmt.Errorf("%w: %w: line longer than %d bytes", ErrCorrupt, events.ErrDecode, events.MaxRecordSize)}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(line) > 0 {
				if err := newerTail(line); err != nil {
					return &events.RecordError{Position: s.lines + 1, Err: err}
				}
				if !tornTail(line) {
					return &events.RecordError{Position: s.lines + 1, Err: fmt.Errorf("%w: the last line has no newline and is not the start of a record", ErrCorrupt)}
				}
				s.torn = int64(len(line))
			}
			return nil
		case err != nil:
			return err
		}
		s.lines++
		if err := s.add(bytes.TrimSpace(line)); err != nil {
			return err
		}
		s.good += int64(len(line))
		line = line[:0]
	}
}

// add validates one complete line and folds it in.
func (s *fileScan) add(line []byte) error {
	if len(line) == 0 {
		return nil
	}
	corrupt := func(breaker string, seq uint64, err error) error {
		return &events.RecordError{Position: s.lines, Breaker: breaker, Seq: seq, Err: fmt.Errorf("%w: %w", ErrCorrupt, err)}
	}
	kind, err := probeLine(line)
	if errors.Is(err, ErrNewerFormat) {
		return &events.RecordError{Position: s.lines, Err: err}
	}
	if err != nil {
		return corrupt("", 0, err)
	}
	if kind == lineSnapshot {
		sn, err := unmarshalSnapshot(line)
		if err != nil {
			return corrupt("", 0, err)
		}
		if s.logs[sn.Breaker] != nil {
			return corrupt(sn.Breaker, sn.Seq, fmt.Errorf("a snapshot record of breaker %q must come before its other records, at most once", sn.Breaker))
		}
		s.logs[sn.Breaker] = &fileLog{held: held{base: sn, head: sn}}
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
	head, err := l.head.Apply(t)
	if err != nil {
		return corrupt(t.Breaker, t.Seq, err)
	}
	s.logs[t.Breaker] = l
	l.head = head
	l.recs = append(l.recs, t)
	l.pos = append(l.pos, s.next)
	s.next++
	return nil
}
