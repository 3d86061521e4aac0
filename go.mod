module github.com/circuitry-go/circuitry

go 1.26

require (
	github.com/looplab/fsm v1.0.3 // indirect
	go.uber.org/goleak v1.3.0 // indirect
	pgregory.net/rapid v1.3.0 // indirect
)
