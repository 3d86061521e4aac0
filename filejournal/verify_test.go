package filejournal_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
)

// fjLineOf returns the line of file that holds record seq of breaker.
func fjLineOf(t testing.TB, file, breaker string, seq uint64) int {
	t.Helper()
	needle := fmt.Sprintf(`"breaker":%q,"seq":%d,`, breaker, seq)
	for i, line := range strings.Split(fjRead(t, file), "\n") {
		if strings.Contains(line, needle) && !strings.Contains(line, `"kind"`) {
			return i + 1
		}
	}
	t.Fatalf("no record %s #%d in %s", breaker, seq, file)
	return 0
}

// fjLineKind returns the line of file that holds the first line of kind
// (and of breaker, when not empty).
func fjLineKind(t testing.TB, file, kind, breaker string) int {
	t.Helper()
	for i, line := range strings.Split(fjRead(t, file), "\n") {
		if strings.Contains(line, `"kind":"`+kind+`"`) && (breaker == "" || strings.Contains(line, fmt.Sprintf(`"breaker":%q`, breaker))) {
			return i + 1
		}
	}
	t.Fatalf("no %s line in %s", kind, file)
	return 0
}

// fjEditLine replaces line n (1-based) of file with what edit returns.
func fjEditLine(t testing.TB, file string, n int, edit func(string) string) {
	t.Helper()
	lines := strings.Split(fjRead(t, file), "\n")
	changed := edit(lines[n-1])
	if changed == lines[n-1] {
		t.Fatalf("the edit of line %d of %s changed nothing: %s", n, file, changed)
	}
	lines[n-1] = changed
	fjWrite(t, file, strings.Join(lines, "\n"))
}

var (
	fjHeadField = regexp.MustCompile(`"head":"[^"]*"`)
	fjPrevField = regexp.MustCompile(`"prev":"[^"]*"`)
)

// fjRechain rewrites every segment of the journal at path as someone who
// can edit the files, but holds no chain key, would after changing a
// record: every prev_hash, checkpoint head, header prev and seal line
// recomputed with bare SHA-256, each matching what it vouches for.
func fjRechain(t testing.TB, path string) {
	t.Helper()
	prevFile := ""
	heads := map[string]string{} // breaker -> the link hash of its last record (or its checkpoint's head)
	for _, file := range append(fjSealed(t, path), path) {
		var out strings.Builder
		type span struct {
			firstSeq, lastSeq uint64
			first, last       time.Time
		}
		spans := map[string]*span{}
		var x filejournal.SegmentIndex
		for _, line := range strings.Split(strings.TrimSuffix(fjRead(t, file), "\n"), "\n") {
			var p struct {
				Kind    string `json:"kind"`
				Breaker string `json:"breaker"`
				Segment uint64 `json:"segment"`
				Head    string `json:"head"`
			}
			if err := json.Unmarshal([]byte(line), &p); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			switch p.Kind {
			case "segment":
				x.Segment = p.Segment
				if prevFile != "" {
					line = fjPrevField.ReplaceAllString(line, `"prev":"`+prevFile+`"`)
				}
			case "snapshot":
				if h, ok := heads[p.Breaker]; ok {
					line = fjHeadField.ReplaceAllString(line, `"head":"`+h+`"`)
				} else {
					heads[p.Breaker] = p.Head
				}
			case "retention":
			case "seal":
				x.Bytes = int64(out.Len())
				for _, name := range slices.Sorted(func(yield func(string) bool) {
					for n := range spans {
						if !yield(n) {
							return
						}
					}
				}) {
					s := spans[name]
					x.Breakers = append(x.Breakers, filejournal.BreakerRange{Breaker: name, FirstSeq: s.firstSeq, LastSeq: s.lastSeq, First: s.first, Last: s.last, Head: heads[name]})
				}
				if x.Segment == 0 {
					x.Segment = 1 // a file written before segments
				}
				b, err := json.Marshal(struct {
					V    int    `json:"v"`
					Kind string `json:"kind"`
					filejournal.SegmentIndex
				}{3, "seal", x})
				if err != nil {
					t.Fatal(err)
				}
				line = string(b)
			default:
				var tr events.Transition
				if err := tr.UnmarshalJSON([]byte(line)); err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				tr.PrevHash = heads[tr.Breaker]
				b, err := tr.MarshalJSON()
				if err != nil {
					t.Fatal(err)
				}
				line = string(b)
				heads[tr.Breaker] = events.LinkHash(b, nil)
				s := spans[tr.Breaker]
				if s == nil {
					s = &span{firstSeq: tr.Seq, first: tr.Time, last: tr.Time}
					spans[tr.Breaker] = s
				}
				s.lastSeq = tr.Seq
				s.first, s.last = minT(s.first, tr.Time), maxT(s.last, tr.Time)
				if x.Records == 0 {
					x.First, x.Last = tr.Time, tr.Time
				}
				x.Records++
				x.First, x.Last = minT(x.First, tr.Time), maxT(x.Last, tr.Time)
			}
			out.WriteString(line + "\n")
		}
		fjWrite(t, file, out.String())
		prevFile = events.LinkHash([]byte(out.String()), nil)
	}
}

func minT(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxT(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// fjTamperJournal is a journal of three sealed segments and an active one,
// with the heads of its checkpoints as they were witnessed:
//
//	segment 1: a 1-6, b 1-3, c 1-2   (c has no record after it)
//	segment 2: a 7-12, b 4-6
//	segment 3: a 13-16, b 7-8
//	segment 4: a 17-20 (active)
type fjTamperJournal struct {
	path  string
	heads []string // of segments 1, 2 and 3
	key   []byte
}

func fjBuildTamper(t *testing.T, key []byte) *fjTamperJournal {
	t.Helper()
	j := &fjTamperJournal{path: fjPath(t), key: key}
	opts := []filejournal.Option{filejournal.WithSync(filejournal.SyncNone),
		filejournal.WithCheckpointHandler(func(c filejournal.Checkpoint) { j.heads = append(j.heads, c.Head) })}
	if key != nil {
		opts = append(opts, filejournal.WithChainKey(key))
	}
	f := fjOpen(t, j.path, nil, opts...)
	a, b, c := history("a", 20), history("b", 8), history("c", 2)
	ctx := context.Background()
	fjAppend(t, f, fjInterleave(a[:6], b[:3], c)...)
	f.Checkpoint(ctx)
	fjAppend(t, f, fjInterleave(a[6:12], b[3:6])...)
	f.Checkpoint(ctx)
	fjAppend(t, f, fjInterleave(a[12:16], b[6:8])...)
	f.Checkpoint(ctx)
	fjAppend(t, f, a[16:]...)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if len(j.heads) != 3 {
		t.Fatalf("%d checkpoints", len(j.heads))
	}
	fjVerify(t, j.path, filejournal.VerifyOptions{Key: key, RequireKey: key != nil, Heads: j.heads})
	return j
}

func (j *fjTamperJournal) seg(n int) string { return fjSegment(j.path, n) }

// Verify finds each kind of change to a journal's files, naming the file
// and, for a record, its line; and passes exactly where what it checks
// cannot tell (a bare chain recomputed, the newest records dropped).
func TestVerifyFindsTampering(t *testing.T) {
	key := []byte("the operator's chain key")
	changeA8 := func(t *testing.T, j *fjTamperJournal) {
		fjEditLine(t, j.seg(2), fjLineOf(t, j.seg(2), "a", 8), func(s string) string { return strings.Replace(s, `"failures":8}`, `"failures":80}`, 1) })
	}
	type want struct {
		opts filejournal.VerifyOptions
		file func(j *fjTamperJournal) string // "" : Verify passes
		err  error
		line func(t *testing.T, j *fjTamperJournal) int
	}
	pass := func(opts filejournal.VerifyOptions) want { return want{opts: opts} }
	noLine := func(*testing.T, *fjTamperJournal) int { return 0 }
	for _, tc := range []struct {
		name  string
		key   []byte
		edit  func(t *testing.T, j *fjTamperJournal)
		wants func(j *fjTamperJournal) []want
	}{
		{"a record changed", nil, changeA8, func(j *fjTamperJournal) []want {
			return []want{{file: func(j *fjTamperJournal) string { return j.seg(2) }, err: events.ErrBrokenChain,
				line: func(t *testing.T, j *fjTamperJournal) int { return fjLineOf(t, j.seg(2), "a", 9) }}}
		}},
		{"a record changed and the bare chain recomputed", nil, func(t *testing.T, j *fjTamperJournal) {
			changeA8(t, j)
			fjRechain(t, j.path)
		}, func(j *fjTamperJournal) []want {
			return []want{
				// A bare chain cannot tell: whoever edits the files can
				// recompute every hash after the change.
				pass(filejournal.VerifyOptions{}),
				pass(filejournal.VerifyOptions{Heads: j.heads[:1]}), // segment 1 is unchanged
				// A head witnessed before the change can.
				{opts: filejournal.VerifyOptions{Heads: j.heads[1:2]}, file: func(j *fjTamperJournal) string { return j.path }, err: filejournal.ErrHeadNotFound, line: noLine},
				{opts: filejournal.VerifyOptions{Heads: j.heads[2:]}, file: func(j *fjTamperJournal) string { return j.path }, err: filejournal.ErrHeadNotFound, line: noLine},
			}
		}},
		{"a record of a keyed journal changed and the chain recomputed without the key", key, func(t *testing.T, j *fjTamperJournal) {
			changeA8(t, j)
			fjRechain(t, j.path)
		}, func(j *fjTamperJournal) []want {
			return []want{
				// The first record the attacker linked, a 2, has a bare link.
				{opts: filejournal.VerifyOptions{Key: key, RequireKey: true}, file: func(j *fjTamperJournal) string { return j.seg(1) }, err: events.ErrBrokenChain,
					line: func(t *testing.T, j *fjTamperJournal) int { return fjLineOf(t, j.seg(1), "a", 2) }},
				// Without RequireKey, the header the attacker changed gives
				// them away: its mac was made with the key over other bytes.
				{opts: filejournal.VerifyOptions{Key: key, Heads: j.heads[1:2]}, file: func(j *fjTamperJournal) string { return j.seg(2) }, err: events.ErrBrokenChain,
					line: func(*testing.T, *fjTamperJournal) int { return 1 }},
			}
		}},
		{"a record removed", nil, func(t *testing.T, j *fjTamperJournal) {
			lines := strings.SplitAfter(fjRead(t, j.seg(2)), "\n")
			n := fjLineOf(t, j.seg(2), "a", 8)
			fjWrite(t, j.seg(2), strings.Join(slices.Delete(lines, n-1, n), ""))
		}, func(j *fjTamperJournal) []want {
			return []want{{file: func(j *fjTamperJournal) string { return j.seg(2) }, err: filejournal.ErrCorrupt,
				line: func(t *testing.T, j *fjTamperJournal) int { return fjLineOf(t, j.seg(2), "a", 9) }}}
		}},
		{"a record inserted", nil, func(t *testing.T, j *fjTamperJournal) {
			lines := strings.SplitAfter(fjRead(t, j.seg(2)), "\n")
			n := fjLineOf(t, j.seg(2), "a", 8)
			fjWrite(t, j.seg(2), strings.Join(slices.Insert(lines, n, lines[n-1]), ""))
		}, func(j *fjTamperJournal) []want {
			return []want{{file: func(j *fjTamperJournal) string { return j.seg(2) }, err: filejournal.ErrCorrupt,
				line: func(t *testing.T, j *fjTamperJournal) int { return fjLineOf(t, j.seg(2), "a", 8) + 1 }}}
		}},
		{"a sealed segment deleted", nil, func(t *testing.T, j *fjTamperJournal) {
			if err := os.Remove(j.seg(2)); err != nil {
				t.Fatal(err)
			}
		}, func(j *fjTamperJournal) []want {
			return []want{{file: func(j *fjTamperJournal) string { return j.seg(2) }, err: filejournal.ErrMissingSegment, line: noLine}}
		}},
		{"the oldest sealed segment deleted", nil, func(t *testing.T, j *fjTamperJournal) {
			if err := os.Remove(j.seg(1)); err != nil {
				t.Fatal(err)
			}
		}, func(j *fjTamperJournal) []want {
			return []want{{file: func(j *fjTamperJournal) string { return j.seg(1) }, err: filejournal.ErrMissingSegment, line: noLine}}
		}},
		{"a sealed segment renamed past the active one", nil, func(t *testing.T, j *fjTamperJournal) {
			if err := os.Rename(j.seg(2), j.seg(7)); err != nil {
				t.Fatal(err)
			}
		}, func(j *fjTamperJournal) []want {
			return []want{{file: func(j *fjTamperJournal) string { return j.seg(7) }, err: filejournal.ErrForeignSegment, line: noLine}}
		}},
		{"two sealed segments swapped", nil, func(t *testing.T, j *fjTamperJournal) {
			two, three := fjRead(t, j.seg(2)), fjRead(t, j.seg(3))
			fjWrite(t, j.seg(2), three)
			fjWrite(t, j.seg(3), two)
		}, func(j *fjTamperJournal) []want {
			return []want{{file: func(j *fjTamperJournal) string { return j.seg(2) }, err: filejournal.ErrForeignSegment, line: noLine}}
		}},
		{"another journal's segment in its place", nil, func(t *testing.T, j *fjTamperJournal) {
			other := fjBuildTamper(t, nil)
			fjEditLine(t, other.seg(1), fjLineOf(t, other.seg(1), "a", 1), func(s string) string { return strings.Replace(s, `"failures":1}`, `"failures":10}`, 1) })
			fjRechain(t, other.path) // the same records but one, a chain of its own
			fjWrite(t, j.seg(2), fjRead(t, other.seg(2)))
		}, func(j *fjTamperJournal) []want {
			return []want{{file: func(j *fjTamperJournal) string { return j.seg(2) }, err: events.ErrBrokenChain,
				line: func(*testing.T, *fjTamperJournal) int { return 1 }}}
		}},
		{"the newest records dropped", nil, func(t *testing.T, j *fjTamperJournal) {
			lines := strings.SplitAfter(fjRead(t, j.path), "\n")
			fjWrite(t, j.path, strings.Join(lines[:len(lines)-3], "")) // a 19 and a 20
		}, func(j *fjTamperJournal) []want {
			// Nothing vouches for the newest records: no successor links to
			// them, and no head was witnessed after them.
			return []want{pass(filejournal.VerifyOptions{}), pass(filejournal.VerifyOptions{Heads: j.heads})}
		}},
		{"the journal cut back into a witnessed segment", nil, func(t *testing.T, j *fjTamperJournal) {
			// Segment 3 and the active one dropped; segment 3, less its
			// seal line and its last two records, made the active one.
			lines := strings.SplitAfter(fjRead(t, j.seg(3)), "\n")
			fjWrite(t, j.path, strings.Join(lines[:len(lines)-4], ""))
			if err := os.Remove(j.seg(3)); err != nil {
				t.Fatal(err)
			}
		}, func(j *fjTamperJournal) []want {
			return []want{
				pass(filejournal.VerifyOptions{}),
				pass(filejournal.VerifyOptions{Heads: j.heads[:2]}),
				{opts: filejournal.VerifyOptions{Heads: j.heads}, file: func(j *fjTamperJournal) string { return j.path }, err: filejournal.ErrHeadNotFound, line: noLine},
			}
		}},
		{"a checkpoint changed", nil, func(t *testing.T, j *fjTamperJournal) {
			fjEditLine(t, j.path, fjLineKind(t, j.path, "snapshot", "b"), func(s string) string {
				return strings.Replace(s, `"since":"2026-11-27T10:00:08Z"`, `"since":"2026-11-27T10:00:09Z"`, 1)
			})
		}, func(j *fjTamperJournal) []want {
			return []want{{file: func(j *fjTamperJournal) string { return j.path }, err: filejournal.ErrCorrupt,
				line: func(t *testing.T, j *fjTamperJournal) int { return fjLineKind(t, j.path, "snapshot", "b") }}}
		}},
		{"the head of an idle breaker's checkpoint changed", nil, func(t *testing.T, j *fjTamperJournal) {
			fjEditLine(t, j.path, fjLineKind(t, j.path, "snapshot", "c"), func(s string) string {
				return fjHeadField.ReplaceAllString(s, `"head":"sha256:00000000000000000000000000000000"`)
			})
		}, func(j *fjTamperJournal) []want {
			return []want{{file: func(j *fjTamperJournal) string { return j.path }, err: events.ErrBrokenChain,
				line: func(t *testing.T, j *fjTamperJournal) int { return fjLineKind(t, j.path, "snapshot", "c") }}}
		}},
		{"a header's link removed", nil, func(t *testing.T, j *fjTamperJournal) {
			fjEditLine(t, j.path, 1, func(s string) string { return fjPrevField.ReplaceAllString(s, `"prev":""`) })
		}, func(j *fjTamperJournal) []want {
			return []want{{file: func(j *fjTamperJournal) string { return j.path }, err: events.ErrBrokenChain,
				line: func(*testing.T, *fjTamperJournal) int { return 1 }}}
		}},
		{"a breaker added to a checkpoint", nil, func(t *testing.T, j *fjTamperJournal) {
			fjEditLine(t, j.path, 1, func(s string) string {
				return s + "\n" + `{"v":2,"kind":"snapshot","breaker":"z","seq":1,"state":"open","event":"trip","since":"2026-11-27T10:00:01Z","open_for":"10s","opens":1}`
			})
		}, func(j *fjTamperJournal) []want {
			return []want{{file: func(j *fjTamperJournal) string { return j.path }, err: filejournal.ErrCorrupt,
				line: func(*testing.T, *fjTamperJournal) int { return 2 }}}
		}},
		{"a header's link changed", nil, func(t *testing.T, j *fjTamperJournal) {
			fjEditLine(t, j.seg(3), 1, func(s string) string {
				return fjPrevField.ReplaceAllString(s, `"prev":"sha256:00000000000000000000000000000000"`)
			})
		}, func(j *fjTamperJournal) []want {
			return []want{{file: func(j *fjTamperJournal) string { return j.seg(3) }, err: events.ErrBrokenChain,
				line: func(*testing.T, *fjTamperJournal) int { return 1 }}}
		}},
		{"an empty line after a seal line", nil, func(t *testing.T, j *fjTamperJournal) {
			fjWrite(t, j.seg(2), fjRead(t, j.seg(2))+"\n")
		}, func(j *fjTamperJournal) []want {
			return []want{{file: func(j *fjTamperJournal) string { return j.seg(2) }, err: filejournal.ErrCorrupt,
				line: func(t *testing.T, j *fjTamperJournal) int { return fjLineKind(t, j.seg(2), "seal", "") + 1 }}}
		}},
		{"a seal line that lies about the records", nil, func(t *testing.T, j *fjTamperJournal) {
			fjEditLine(t, j.seg(2), fjLineKind(t, j.seg(2), "seal", ""), func(s string) string { return strings.Replace(s, `"records":9,`, `"records":8,`, 1) })
		}, func(j *fjTamperJournal) []want {
			return []want{{file: func(j *fjTamperJournal) string { return j.seg(2) }, err: filejournal.ErrCorrupt,
				line: func(t *testing.T, j *fjTamperJournal) int { return fjLineKind(t, j.seg(2), "seal", "") }}}
		}},
		{"a seal line that lies about a head", nil, func(t *testing.T, j *fjTamperJournal) {
			fjEditLine(t, j.seg(2), fjLineKind(t, j.seg(2), "seal", ""), func(s string) string {
				return strings.Replace(s, `"head":"sha256:`, `"head":"sha256:0`, 1)[:len(s)-0]
			})
		}, func(j *fjTamperJournal) []want {
			return []want{{file: func(j *fjTamperJournal) string { return j.seg(2) }, err: filejournal.ErrCorrupt,
				line: func(t *testing.T, j *fjTamperJournal) int { return fjLineKind(t, j.seg(2), "seal", "") }}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := fjBuildTamper(t, tc.key)
			tc.edit(t, j)
			for i, w := range tc.wants(j) {
				rep, err := filejournal.Verify(j.path, w.opts)
				if w.file == nil {
					if err != nil {
						t.Fatalf("Verify %d (%+v) = %v; want it to pass", i, w.opts, err)
					}
					if rep.Heads != len(w.opts.Heads) {
						t.Fatalf("Verify %d: %d heads found, want %d", i, rep.Heads, len(w.opts.Heads))
					}
					continue
				}
				if err == nil {
					t.Fatalf("Verify %d (%+v) passed; want an error matching %v", i, w.opts, w.err)
				}
				fjFileError(t, err, w.file(j), w.err, w.line(t, j))
			}
		})
	}
}

// Verify of a journal whose oldest segments retention removed, and of one
// that a retention pass at Open cut: the removal is recorded in the active
// segment only, and is not a missing segment.
func TestVerifyAfterRetention(t *testing.T) {
	path := fjPath(t)
	f := fjOpen(t, path, nil, filejournal.WithSync(filejournal.SyncNone), filejournal.WithSegmentSize(500), filejournal.WithCheckpointHandler(func(filejournal.Checkpoint) {}))
	fjAppend(t, f, history("a", 40)...)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	sealed := fjSealed(t, path)
	if len(sealed) < 6 {
		t.Fatalf("%d sealed segments", len(sealed))
	}
	var sizes int64
	for _, p := range sealed[len(sealed)-3:] {
		st, _ := os.Stat(p)
		sizes += st.Size()
	}
	var removed []filejournal.Removal
	g := fjOpen(t, path, nil, filejournal.WithMaxBytes(sizes), filejournal.WithRetentionHandler(func(r filejournal.Removal) { removed = append(removed, r) }))
	if len(removed) != 1 || len(removed[0].Paths) != len(sealed)-3 {
		t.Fatalf("removals %+v, want all but 3 sealed segments removed by Open", removed)
	}
	rep := fjVerify(t, path, filejournal.VerifyOptions{})
	if rep.RemovedThrough != uint64(len(sealed)-3) || rep.Segments != 4 {
		t.Fatalf("Verify report %+v", rep)
	}
	requireSameSnapshot(t, fjLoad(t, g, "a"), fjFold(t, history("a", 40)))
	fjAppend(t, g, history("a", 41)[40])
	fjVerify(t, path, filejournal.VerifyOptions{})
	_ = errors.Is
}

// An active segment whose header is of a newer format cannot say which
// segment it is: Verify and the readers say the format is newer, naming
// line 1 of the active segment, rather than that the sealed segments are
// foreign. A header longer than the first read of it (fields a later
// minor format added) is still the header.
func TestReadersOfANewerOrLongHeader(t *testing.T) {
	readers := func(path string) map[string]error {
		_, verr := filejournal.Verify(path, filejournal.VerifyOptions{})
		var rerr error
		for _, err := range filejournal.Records(path, filejournal.Filter{}) {
			if err != nil {
				rerr = err
			}
		}
		_, serr := filejournal.StateAt(path, t0.Add(time.Hour))
		_, oerr := filejournal.Oldest(path)
		return map[string]error{"Verify": verr, "Records": rerr, "StateAt": serr, "Oldest": oerr}
	}
	t.Run("newer", func(t *testing.T) {
		j := fjBuildTamper(t, nil)
		fjEditLine(t, j.path, 1, func(s string) string { return strings.Replace(s, `{"v":3,`, `{"v":4,`, 1) })
		for name, err := range readers(j.path) {
			if !errors.Is(err, filejournal.ErrNewerFormat) {
				t.Errorf("%s = %v, want ErrNewerFormat", name, err)
				continue
			}
			fjFileError(t, err, j.path, filejournal.ErrNewerFormat, 1)
		}
	})
	t.Run("long", func(t *testing.T) {
		j := fjBuildTamper(t, nil)
		fjEditLine(t, j.path, 1, func(s string) string {
			return strings.Replace(s, `"kind":"segment",`, `"kind":"segment","later":"`+strings.Repeat("x", 5000)+`",`, 1)
		})
		for name, err := range readers(j.path) {
			if err != nil {
				t.Errorf("%s = %v", name, err)
			}
		}
	})
}
