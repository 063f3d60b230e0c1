//go:build ignore

// gencodes writes codes.h, the numeric codes shared by Go and nn.kern
// (kernels.Codes). Run it with `go generate ./kernels`.
package main

import (
	"log"
	"os"

	"github.com/diynn/diynn/kernels"
)

func main() {
	if err := os.WriteFile("codes.h", []byte(kernels.Codes()), 0o644); err != nil {
		log.Fatal(err)
	}
}
