package bench

import (
	"context"
	"net/http"
	"testing"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/failsafehttp"

	"github.com/circuitry-go/circuitry/httpbreaker"
	"github.com/circuitry-go/circuitry/machine"
)

// okTransport answers every request with one shared 200 response, in
// memory: what is measured is the breaker's transport around it.
type okTransport struct{ resp *http.Response }

func (t okTransport) RoundTrip(*http.Request) (*http.Response, error) { return t.resp, nil }

// BenchmarkRoundTripper is what a breaker adds to an HTTP request, closed,
// every request a success, over an in-memory transport: bare, through
// httpbreaker (a breaker per host, the default key) and through
// failsafe-go's failsafehttp RoundTripper with a circuit breaker of the
// same thresholds. The added cost is each one's time minus bare's.
func BenchmarkRoundTripper(b *testing.B) {
	next := okTransport{resp: &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{}, Body: http.NoBody}}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "https://api.example.com/prices", nil)
	if err != nil {
		b.Fatal(err)
	}
	br, err := machine.New("https://api.example.com:443", machine.WithFailureThreshold(5), machine.WithSuccessThreshold(2))
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close(context.Background())
	ours, err := httpbreaker.NewTransport(next, httpbreaker.Single(br))
	if err != nil {
		b.Fatal(err)
	}
	fcb := circuitbreaker.NewBuilder[*http.Response]().
		HandleIf(func(r *http.Response, err error) bool { return err != nil || r.StatusCode >= 500 }).
		WithFailureThreshold(5).WithSuccessThreshold(2).Build()
	theirs := failsafehttp.NewRoundTripper(next, fcb)
	for _, bc := range []struct {
		name string
		rt   http.RoundTripper
	}{{"bare", next}, {"circuitry", ours}, {"failsafe-go", theirs}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.rt.RoundTrip(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
