"""Forward + backward of each full model at 256x256 on CPU (issue: every model trains on a CPU).

    python benchmarks/bench_train_step.py [--models hdrunet,twostage,uhd_bilateral,duhdr] [--runs 3]

Prints the median time of one forward+backward (batch 1, a plain L1 loss on the public output) and the
peak RSS of the process, as a table and JSON. Random-initialised full-size models.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="hdrunet,twostage,uhd_bilateral,duhdr")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    from hdrlift.models import create_model

    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = create_model(name).train()
        x = torch.rand(1, 3, args.size, args.size)
        y = torch.rand(1, 3, args.size, args.size) * 2
        times = []
        for _ in range(args.runs + 1):
            model.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            loss = (model(x) - y).abs().mean()
            loss.backward()
            times.append(time.perf_counter() - t0)
        grads = sum(1 for p in model.parameters() if p.requires_grad and p.grad is not None)
        rows.append({"model": name, "size": args.size, "fwd_bwd_s": round(statistics.median(times[1:]), 3),
                     "params_with_grad": grads, "finite": bool(torch.isfinite(loss).item()),
                     "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)})
        print(rows[-1], flush=True)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
