//go:build linux

package filejournal_test

import (
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/circuitry-go/circuitry/events"
	"github.com/circuitry-go/circuitry/filejournal"
)

// A process killed by SIGKILL at each point of a seal and of a retention
// pass leaves a journal that opens (reporting only what it resumed), has
// lost nothing an append acknowledged, verifies with the heads it handed
// over, and takes appends and seals again.
func TestCrashAtEachPointOfASeal(t *testing.T) {
	const (
		stale    = "left by an interrupted seal"
		finished = "finished the seal of segment"
	)
	for _, tc := range []struct {
		name  string
		point string
		nth   int
		setup string // "": a new journal; "old": a file written before segments; "sealed": a journal with sealed segments, cut by Open's retention
		sync  string
		warns []string // what reopening reports, exactly
	}{
		{"sealed-written", "sealed-written", 3, "", "none", []string{stale}},
		{"sealed-renamed", "sealed-renamed", 3, "", "none", []string{finished}},
		{"sealed-renamed, SyncAlways", "sealed-renamed", 3, "", "always", []string{finished}},
		{"active-written", "active-written", 3, "", "none", []string{stale, finished}},
		{"active-renamed", "active-renamed", 3, "", "none", nil},
		{"retention-recorded", "retention-recorded", 1, "", "none", nil},
		{"retention-removed-one", "retention-removed-one", 1, "", "none", nil},
		{"first seal of an old journal, sealed-renamed", "sealed-renamed", 1, "old", "none", []string{finished}},
		{"first seal of an old journal, active-written", "active-written", 1, "old", "none", []string{stale, finished}},
		{"retention of Open, retention-recorded", "retention-recorded", 1, "sealed", "none", nil},
		{"retention of Open, retention-removed-one", "retention-removed-one", 1, "sealed", "none", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := fjPath(t)
			acked := map[string]uint64{}
			heads := map[uint64]string{}
			env := []string{fjCrashEnv + "=" + tc.point, fjCrashNthEnv + "=" + strconv.Itoa(tc.nth), fjSyncEnv + "=" + tc.sync}
			switch tc.setup {
			case "old":
				fjWrite(t, path, fjLines(t, fjRecord("a", 1), fjRecord("b", 1), fjRecord("a", 2)))
				acked["a"], acked["b"] = 2, 1
			case "sealed":
				f := fjOpen(t, path, nil, filejournal.WithSync(filejournal.SyncNone), filejournal.WithSegmentSize(1200),
					filejournal.WithCheckpointHandler(func(c filejournal.Checkpoint) { heads[c.Sealed] = c.Head }))
				for seq := uint64(1); seq <= 15; seq++ {
					fjAppend(t, f, fjRecord("a", seq), fjRecord("b", seq))
				}
				f.Close()
				acked["a"], acked["b"] = 15, 15
				env = append(env, fjCrashOpenEnv+"=1")
				if len(heads) < 3 {
					t.Fatalf("%d segments sealed", len(heads))
				}
			}
			h := fjStartHelper(t, "crash", path, env...)
			for h.lines.Scan() {
				fields := strings.Fields(h.lines.Text())
				switch {
				case len(fields) == 3 && fields[0] == "ok":
					seq, err := strconv.ParseUint(fields[2], 10, 64)
					if err != nil || seq != acked[fields[1]]+1 {
						t.Fatalf("helper said %q after %s #%d", h.lines.Text(), fields[1], acked[fields[1]])
					}
					acked[fields[1]] = seq
				case len(fields) == 3 && fields[0] == "head":
					n, _ := strconv.ParseUint(fields[1], 10, 64)
					heads[n] = fields[2]
				default:
					t.Fatalf("helper said %q", h.lines.Text())
				}
			}
			var ee *exec.ExitError
			if err := h.wait(t); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the helper did not die of SIGKILL at %s: %v", tc.point, err)
			}

			w := &fjWarnings{}
			var removals []filejournal.Removal
			var cps []filejournal.Checkpoint
			opts := []filejournal.Option{filejournal.WithSync(filejournal.SyncNone), filejournal.WithSegmentSize(1200),
				filejournal.WithRetentionHandler(func(r filejournal.Removal) { removals = append(removals, r) }),
				filejournal.WithCheckpointHandler(func(c filejournal.Checkpoint) { cps = append(cps, c) })}
			f := fjOpen(t, path, w, opts...)
			var said []string
			for _, warn := range w.all() {
				kind := ""
				for _, k := range []string{stale, finished} {
					if strings.Contains(warn.Error(), k) {
						kind = k
					}
				}
				if kind == "" {
					t.Fatalf("reopening reported %v", warn)
				}
				said = append(said, kind)
			}
			if fmt.Sprint(said) != fmt.Sprint(tc.warns) {
				t.Fatalf("reopening reported %q, want %q (%v)", said, tc.warns, w.all())
			}
			for _, c := range cps { // a seal finished by Open hands its head over
				heads[c.Sealed] = c.Head
			}
			st := f.Stats()
			t.Logf("killed at %s after a #%d, b #%d acknowledged and %d checkpoints; reopened at segment %d with %d sealed, removed through %d; reported %q",
				tc.point, acked["a"], acked["b"], len(heads), st.Segment, st.Sealed, st.RemovedThrough, said)
			if strings.HasPrefix(tc.point, "retention") && st.RemovedThrough == 0 {
				t.Fatalf("Stats() = %+v: the retention pass was not recorded", st)
			}
			for _, b := range []string{"a", "b"} {
				s := fjLoad(t, f, b)
				if s.Seq < acked[b] || s.Seq > acked[b]+1 {
					t.Fatalf("breaker %s at seq %d, and %d appends were acknowledged", b, s.Seq, acked[b])
				}
				var want []events.Transition
				for seq := uint64(1); seq <= s.Seq; seq++ {
					want = append(want, fjRecord(b, seq))
				}
				requireSameSnapshot(t, s, fjFold(t, want))
				from := uint64(0)
				got, err := f.Read(t.Context(), b, 0)
				var ce *events.CompactedError
				if errors.As(err, &ce) && st.RemovedThrough > 0 {
					from = ce.Base
					got, err = f.Read(t.Context(), b, from)
				}
				if err != nil {
					t.Fatalf("Read(%q): %v", b, err)
				}
				requireSameRecords(t, got, want[from:])
				acked[b] = s.Seq
			}
			var kept []string
			for n, head := range heads {
				if n > st.RemovedThrough {
					kept = append(kept, head)
				}
			}
			fjVerify(t, path, filejournal.VerifyOptions{Heads: kept})
			for _, n := range fjDirNames(t, path) {
				if n != "breakers.jsonl" && !isSealedName(n) {
					t.Fatalf("file %s left next to the journal", n)
				}
			}
			// The journal goes on: appends, a seal, a reopen.
			fjAppend(t, f, fjRecord("a", acked["a"]+1), fjRecord("b", acked["b"]+1))
			c, err := f.Checkpoint(t.Context())
			if err != nil || c.Sealed == 0 {
				t.Fatalf("Checkpoint() = %+v, %v", c, err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			kept = append(kept, c.Head)
			fjVerify(t, path, filejournal.VerifyOptions{Heads: kept})
			g := fjOpen(t, path, nil, opts...)
			if s := fjLoad(t, g, "a"); s.Seq != acked["a"]+1 {
				t.Fatalf("after the reopen, a at %+v", s)
			}
		})
	}
}
