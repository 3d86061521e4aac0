module github.com/circuitry-go/circuitry

go 1.26
