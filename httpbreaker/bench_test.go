package httpbreaker_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/circuitry-go/circuitry/httpbreaker"
	"github.com/circuitry-go/circuitry/machine"
)

// okTransport answers every request with one shared 200 response, in
// memory: what is measured is the transport around it.
type okTransport struct{ resp *http.Response }

func (t okTransport) RoundTrip(*http.Request) (*http.Response, error) { return t.resp, nil }

// BenchmarkTransport is the cost a breaker adds to a request: a bare
// in-memory transport, and the same behind httpbreaker with a breaker per
// host (closed, every request a success).
func BenchmarkTransport(b *testing.B) {
	next := okTransport{resp: &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{}, Body: http.NoBody}}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "https://api.example.com/prices", nil)
	if err != nil {
		b.Fatal(err)
	}
	br, err := machine.New("https://api.example.com:443")
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close(context.Background())
	protected, err := httpbreaker.NewTransport(next, httpbreaker.Single(br))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		rt   http.RoundTripper
	}{{"bare", next}, {"httpbreaker", protected}} {
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
