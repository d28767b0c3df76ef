"""Peak memory of one inference forward pass, measured in this (fresh) process.

Run as a script, once per case, so that no other case's allocations linger::

    .venv/bin/python experiments/afno/peak_memory.py --case afno --size 1024

Method: build the model and the input, read the process's peak resident set
size so far (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, kilobytes on
Linux) as the baseline, run one forward pass under ``torch.no_grad()``, read
the peak again. The growth, peak − baseline, is the extra memory the forward
pass needed at its high-water mark (activations, FFT buffers, attention
workspace). Prints one JSON object: ``baseline_mib``, ``peak_mib``, ``growth_mib``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys

import torch
from high_resolution_model import CASES, build_model, input_batch, timed_forward

KIB_PER_MIB = 1024.0


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB_PER_MIB


def main(argv: list[str] | None = None) -> int:
    """Measure one case and print its JSON record; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", required=True, choices=sorted(CASES))
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(args.threads)
    mixer, kernel = CASES[args.case]
    model = build_model(mixer, args.size)
    images = input_batch(args.size)
    baseline = peak_rss_mib()
    seconds = timed_forward(model, images, kernel)
    peak = peak_rss_mib()
    record = {
        "case": args.case,
        "size": args.size,
        "baseline_mib": round(baseline, 1),
        "peak_mib": round(peak, 1),
        "growth_mib": round(peak - baseline, 1),
        "first_forward_seconds": round(seconds, 3),
    }
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
