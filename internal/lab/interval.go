package lab

import (
	"math"
	"sort"
)

// intervalLevel is the coverage MedianInterval aims for.
const intervalLevel = 0.95

// minIntervalLevel is the least coverage worth reporting: five values give
// 93.75%, three only 75%.
const minIntervalLevel = 0.9

// MedianInterval returns a confidence interval for the median of whatever
// produced vs (a target's per-round ratios), with no assumption about its
// distribution: the order statistics x(k) and x(n+1-k), k the largest whose
// coverage 1 - 2·P(B < k), B ~ Binomial(n, 1/2), is at least 95%. With
// fewer than six values no k reaches 95%, and the interval is the smallest
// to the largest value, at the coverage that gives (93.75% for five). level
// is the coverage; ok is false when it would be under 90% (fewer than five
// values). Two rows at the same speed give ratios whose median lands on
// either side of 1 by chance; the interval shows how far chance reaches.
func MedianInterval(vs []float64) (lo, hi, level float64, ok bool) {
	n := len(vs)
	if n == 0 {
		return 0, 0, 0, false
	}
	k, level := 1, 1-2*binomialCDF(n, 0)
	for k+1 <= (n+1)/2 {
		next := 1 - 2*binomialCDF(n, k)
		if next < intervalLevel {
			break
		}
		k, level = k+1, next
	}
	if level < minIntervalLevel {
		return 0, 0, 0, false
	}
	sorted := append([]float64(nil), vs...)
	sort.Float64s(sorted)
	return sorted[k-1], sorted[n-k], level, true
}

// binomialCDF is P(B <= j) for B ~ Binomial(n, 1/2): the sum of C(n, i)/2^n,
// each term taken through logarithms so that no factorial overflows.
func binomialCDF(n, j int) float64 {
	ln, _ := math.Lgamma(float64(n + 1))
	var p float64
	for i := 0; i <= j && i <= n; i++ {
		li, _ := math.Lgamma(float64(i + 1))
		lr, _ := math.Lgamma(float64(n - i + 1))
		p += math.Exp(ln - li - lr - float64(n)*math.Ln2)
	}
	return p
}
