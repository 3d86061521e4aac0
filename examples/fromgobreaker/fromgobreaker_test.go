package fromgobreaker_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/circuitry-go/circuitry/examples/fromgobreaker"
	"github.com/circuitry-go/circuitry/machine"
)

func TestRegistry(t *testing.T) {
	t.Run("one breaker per host, even when asked for at once", func(t *testing.T) {
		reg := fromgobreaker.NewRegistry()
		got := make([]*machine.Breaker, 8)
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() {
				b, err := reg.Breaker("a.example")
				if err != nil {
					t.Error(err)
				}
				got[i] = b
			})
		}
		wg.Wait()
		for i, b := range got {
			if b != got[0] {
				t.Fatalf("call %d got another breaker", i)
			}
		}
		if b, _ := reg.Breaker("b.example"); b == got[0] || b.Name() != "b.example" {
			t.Fatalf("b.example got %v", b.Name())
		}
	})
	t.Run("a bad option is New's error", func(t *testing.T) {
		reg := fromgobreaker.NewRegistry(machine.WithFailureThreshold(0))
		if _, err := reg.Breaker("a.example"); err == nil {
			t.Fatal("no error for WithFailureThreshold(0)")
		}
	})
}

func TestMiddlewareOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		handler  http.HandlerFunc
		failures uint64
		panics   bool
	}{
		{"200 is a success", func(w http.ResponseWriter, r *http.Request) {}, 0, false},
		{"404 is a success", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, 0, false},
		{"500 is a failure", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }, 1, false},
		{"a status after the body is ignored", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("ok"))
			w.WriteHeader(500) // superfluous: the client got 200
		}, 0, false},
		{"a panic is a failure, re-raised", func(w http.ResponseWriter, r *http.Request) { panic("boom") }, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := machine.New("api")
			if err != nil {
				t.Fatal(err)
			}
			h := fromgobreaker.Middleware(b, tc.handler)
			func() {
				defer func() {
					if v := recover(); (v != nil) != tc.panics {
						t.Errorf("recovered %v, want a panic: %t", v, tc.panics)
					}
				}()
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
			}()
			c := b.Counts()
			if c.Failures != tc.failures || c.Successes+c.Failures != 1 {
				t.Fatalf("counts %+v, want %d failure(s) of 1 call", c, tc.failures)
			}
		})
	}
}
