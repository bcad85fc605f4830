package engine

import "testing"

// TestAllEqual checks the eight-at-a-time verdict comparison against the
// plain loop at every length and every position of the odd one out.
func TestAllEqual(t *testing.T) {
	for n := 1; n <= 70; n++ {
		for _, v := range []Verdict{VerdictContinue, VerdictDrop, verdictOutput + 3} {
			vd := make([]Verdict, n)
			for i := range vd {
				vd[i] = v
			}
			if !allEqual(vd, v) {
				t.Fatalf("n=%d v=%d: uniform vector reported mixed", n, v)
			}
			for odd := 0; odd < n; odd++ {
				vd[odd] = v + 1
				if allEqual(vd, v) {
					t.Fatalf("n=%d v=%d: odd one at %d missed", n, v, odd)
				}
				vd[odd] = v
			}
		}
	}
}
