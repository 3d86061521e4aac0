package grpcbreaker_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/circuitry-go/circuitry/grpcbreaker"
	"github.com/circuitry-go/circuitry/machine"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// defaultOutcomes is DefaultClassifier's outcome for each code, for a
// caller whose ctx is live.
var defaultOutcomes = map[codes.Code]machine.Outcome{
	codes.OK:                 machine.Success,
	codes.Canceled:           machine.Failure, // not the caller's: see TestDefaultClassifierCancel
	codes.Unknown:            machine.Failure,
	codes.InvalidArgument:    machine.Success,
	codes.DeadlineExceeded:   machine.Failure,
	codes.NotFound:           machine.Success,
	codes.AlreadyExists:      machine.Success,
	codes.PermissionDenied:   machine.Success,
	codes.ResourceExhausted:  machine.Failure,
	codes.FailedPrecondition: machine.Success,
	codes.Aborted:            machine.Success,
	codes.OutOfRange:         machine.Success,
	codes.Unimplemented:      machine.Success,
	codes.Internal:           machine.Failure,
	codes.Unavailable:        machine.Failure,
	codes.DataLoss:           machine.Failure,
	codes.Unauthenticated:    machine.Success,
}

func TestDefaultClassifierCodes(t *testing.T) {
	if len(defaultOutcomes) != 17 {
		t.Fatalf("the table has %d codes, want all 17", len(defaultOutcomes))
	}
	ctx := context.Background()
	for c, want := range defaultOutcomes {
		t.Run(c.String(), func(t *testing.T) {
			var err error
			if c != codes.OK {
				err = status.Error(c, "it said so")
			}
			r := grpcbreaker.DefaultClassifier(ctx, err)
			if r.Outcome != want {
				t.Fatalf("outcome = %v, want %v", r.Outcome, want)
			}
			wantCause := ""
			if want == machine.Failure {
				wantCause = "grpc " + c.String() + ": it said so"
			}
			if r.Cause != wantCause || r.RetryAfter != 0 {
				t.Fatalf("result = %+v, want cause %q and no RetryAfter", r, wantCause)
			}
		})
	}
}

func TestDefaultClassifierCancel(t *testing.T) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	live := context.Background()
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		err   error
		want  machine.Outcome
		cause string
	}{
		{"Canceled, the caller's ctx done", done, status.Error(codes.Canceled, "context canceled"), machine.Ignored, ""},
		{"plain context.Canceled, the caller's ctx done", done, context.Canceled, machine.Ignored, ""},
		{"Canceled by someone else", live, status.Error(codes.Canceled, "server gave up"), machine.Failure, "grpc Canceled: server gave up"},
		{"plain context.DeadlineExceeded", live, fmt.Errorf("wrapped: %w", context.DeadlineExceeded), machine.Failure, "grpc DeadlineExceeded: wrapped: context deadline exceeded"},
		{"Unavailable, the caller's ctx done", done, status.Error(codes.Unavailable, "down"), machine.Failure, "grpc Unavailable: down"},
		{"not a status", live, errors.New("boom"), machine.Failure, "grpc Unknown: boom"},
		{"no message", live, status.Error(codes.Internal, ""), machine.Failure, "grpc Internal"},
		{"nil ctx", nil, status.Error(codes.Canceled, "x"), machine.Failure, "grpc Canceled: x"},
		{"nil error", live, nil, machine.Success, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := grpcbreaker.DefaultClassifier(tc.ctx, tc.err)
			if r.Outcome != tc.want || r.Cause != tc.cause {
				t.Fatalf("result = %v %q, want %v %q", r.Outcome, r.Cause, tc.want, tc.cause)
			}
		})
	}
}

func TestDefaultClassifierClipsTheMessage(t *testing.T) {
	msg := "a" + strings.Repeat("é", 200) // 401 bytes: byte 256 is in the middle of a rune
	r := grpcbreaker.DefaultClassifier(context.Background(), status.Error(codes.Unavailable, msg))
	want := "grpc Unavailable: a" + strings.Repeat("é", 127) + "…"
	if r.Cause != want {
		t.Fatalf("cause = %q (%d bytes), want %q", r.Cause, len(r.Cause), want)
	}
}

func TestPushback(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		want   time.Duration
		ok     bool
	}{
		{"none", nil, 0, false},
		{"1500", []string{"1500"}, 1500 * time.Millisecond, true},
		{"zero", []string{"0"}, 0, true},
		{"negative: do not retry", []string{"-1"}, 0, false},
		{"malformed", []string{"soon"}, 0, false},
		{"fraction", []string{"1.5"}, 0, false},
		{"empty", []string{""}, 0, false},
		{"space", []string{" 10"}, 0, false},
		{"two values", []string{"10", "20"}, 0, false},
		{"larger than a Duration", []string{"9223372036854775"}, math.MaxInt64, true},
		{"larger than an int64", []string{"99999999999999999999999"}, math.MaxInt64, true},
		{"smaller than an int64", []string{"-99999999999999999999999"}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := metadata.MD{}
			if tc.values != nil {
				md[grpcbreaker.PushbackKey] = tc.values
			}
			d, ok := grpcbreaker.Pushback(md)
			if d != tc.want || ok != tc.ok {
				t.Fatalf("Pushback = %v %v, want %v %v", d, ok, tc.want, tc.ok)
			}
		})
	}
	if d, ok := grpcbreaker.Pushback(nil); d != 0 || ok {
		t.Fatalf("Pushback(nil) = %v %v", d, ok)
	}
}
