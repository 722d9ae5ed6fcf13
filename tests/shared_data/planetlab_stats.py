#!/usr/bin/env python3
"""The PlanetLab day's statistics that tests/synthetic.rs compares the generator with
(REAL_DAY), computed without capsim from the trace files, by TraceStats' definitions.
Usage: python3 tests/shared_data/planetlab_stats.py [../shared/data/planetlab-cloudsim/20110303]"""
import math, os, sys

d = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/planetlab-cloudsim/20110303"
tr = [[float(l) for l in open(os.path.join(d, f)) if l.strip()] for f in sorted(os.listdir(d))]
xs = [x for t in tr for x in t]
n = len(xs)
mean = sum(xs) / n
var = sum((x - mean) ** 2 for x in xs) / n
s = sorted(xs)
q = lambda p: s[min(max(math.ceil(p * n), 1), n) - 1]  # nearest rank
lags = [1, 2, 3, 6, 12, 24, 48, 96]
between = den = num_g = 0.0
pairs = 0
num = [0.0] * len(lags)
for x in tr:
    m = sum(x) / len(x)  # each VM demeaned by its own mean
    between += (m - mean) ** 2 * len(x)
    den += sum((v - m) ** 2 for v in x)
    for k, l in enumerate(lags):
        num[k] += sum((x[i] - m) * (x[i + l] - m) for i in range(len(x) - l))
    num_g += sum((x[i] - mean) * (x[i + 1] - mean) for i in range(len(x) - 1))
    pairs += len(x) - 1
print(f"traces {len(tr)} samples {n} mean {mean:.4f} median {q(.5)} p90 {q(.9)} p99 {q(.99)}")
print(f"zeros {sum(x == 0 for x in xs) / n:.4f} within {1 - between / n / var:.4f} "
      f"lag1_global {num_g / pairs / var:.4f}")
print("acf", [round(v / den, 4) for v in num])
