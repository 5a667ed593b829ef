"""How close float32 answers computed on different machines, or by different readers of the
same weights, must be.

A table recorded from Keras' float32 arithmetic on one CPU and recomputed elsewhere (other
SIMD widths, the loader's own reader of the `.keras` weights, float64) adds the same
products in another order or precision, which moves the last bits of float32: 2.6e-8 has
been seen between two CPUs, about 1e-7 is expected between readers. float32 keeps 24 bits
(6e-8 relative); these bounds allow some 16 of those steps, and are still far below any
difference a wrong weight, layer or state would make.
"""

FLOAT32_REORDERED = dict(rtol=1e-6, atol=1e-7)
