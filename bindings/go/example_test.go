package saraphis_test

import (
	"fmt"

	saraphis "saraphis/bindings/go"
)

// Compress a small tensor within an absolute error bound and restore it.
func Example() {
	sys, err := saraphis.NewSystem(nil)
	if err != nil {
		panic(err)
	}
	defer sys.Close()
	p, _ := saraphis.NewParams(saraphis.Padic)
	defer p.Close()
	_ = p.SetAbsBound(1e-3)
	w := make([]float32, 4096)
	for i := range w {
		w[i] = float32(i%97) * 0.001
	}
	c, err := sys.CompressFloat32(w, []uint64{64, 64}, p)
	if err != nil {
		panic(err)
	}
	back := make([]float32, len(w))
	if err := sys.DecompressFloat32(c, back); err != nil {
		panic(err)
	}
	info, _ := saraphis.Inspect(c)
	fmt.Println(info.Shape, info.BoundMode, len(c) < len(w)*4)
	// Output: [64 64] 1 true
}
