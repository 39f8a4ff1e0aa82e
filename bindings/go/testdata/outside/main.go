// A Go program in a module outside the repository, built by scripts/sdk-test.sh against an
// installed prefix exactly as bindings/go/README.md tells a user to (go.mod: require
// saraphis/bindings/go v0.0.0, replace => PREFIX/share/saraphis/go).
package main

import (
	"fmt"
	"os"

	saraphis "saraphis/bindings/go"
)

func main() {
	sys, err := saraphis.NewSystem(nil)
	if err != nil {
		panic(err)
	}
	defer sys.Close()
	p, err := saraphis.NewParams(saraphis.Lossless)
	if err != nil {
		panic(err)
	}
	defer p.Close()
	v := []float32{1, -2.5, 3.25, 0, 1e-3, 7}
	c, err := sys.CompressFloat32(v, []uint64{2, 3}, p)
	if err != nil {
		panic(err)
	}
	out := make([]float32, len(v))
	if err := sys.DecompressFloat32(c, out); err != nil {
		panic(err)
	}
	for i := range v {
		if v[i] != out[i] {
			fmt.Println("mismatch at", i)
			os.Exit(1)
		}
	}
	fmt.Println("outside module: ok")
}
