"""What the blend with the decoded photo costs on top of the network, per image size (CPU).

    python benchmarks/blend_cost.py [--sizes 1920x1080,3840x2160] [--repeats 5] [--threads 1]

Times, on a random photo-like image, the two blends a shipped weight can declare with the camera estimator
(``hdrlift/weights/components/curvenet.polyhaven``): the per-pixel rule ``0.9,0`` with the estimated curve
(session 11) and the detail rule ``0.9,0,1,auto`` (session 12: the degradation branch on 16 crops, a
Gaussian blur of the photo and of the network's output, the geometric mix), and the same with the highlight
expansion ``0.9,0,1,auto,0.3`` (session 13, what the weights declare now; timed as ``hdrlift predict`` runs it
since session 14, the curve decoding each strip of rows inside the blend). Each includes the estimator's curve
decoding. Prints the median of ``--repeats`` runs per case and the ratio of the last to the first, as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch


def main(argv: list[str] | None = None) -> int:
    from hdrlift.inference.methods import default_camera_estimator, resolve_method
    from hdrlift.ops.blend import blend_with_decoded

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1920x1080,3840x2160")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from hdrlift.models.curvenet import CurveNet

    cam = resolve_method(default_camera_estimator()).model
    assert isinstance(cam, CurveNet) and cam.has_detail, "the shipped estimator has no degradation branch"
    cam.eval()
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        g = torch.Generator().manual_seed(0)
        base = torch.nn.functional.interpolate(torch.rand(1, 3, h // 16, w // 16, generator=g), size=(h, w),
                                               mode="bilinear", align_corners=False)
        x = (base + 0.02 * torch.randn(1, 3, h, w, generator=g)).clamp(0, 1)
        net = torch.rand(1, 3, h, w, generator=g) * 2.0

        def pixel(x: torch.Tensor = x, net: torch.Tensor = net) -> torch.Tensor:
            return blend_with_decoded(x, net, 0.9, 0.0, 0.0, decoded=cam(x))

        def detail(x: torch.Tensor = x, net: torch.Tensor = net) -> torch.Tensor:
            return blend_with_decoded(x, net, 0.9, 0.0, 1.0, decoded=cam(x), detail=cam.detail_weight(x))

        def declared(x: torch.Tensor = x, net: torch.Tensor = net) -> torch.Tensor:
            ctx = cam.global_context(x)  # as hdrlift predict runs it: the curve decodes each strip of the blend

            def rows(ldr: torch.Tensor, top: int) -> torch.Tensor:
                return cam.forward_with_context(ldr, ctx, (top, 0), (x.shape[-2], x.shape[-1]))

            return blend_with_decoded(x, net, 0.9, 0.0, 1.0, decoded=rows, detail=cam.detail_weight(x),
                                      highlight=0.3)

        res = {}
        with torch.inference_mode():
            for name, fn in (("0.9,0@estimate", pixel), ("0.9,0,1,auto@estimate", detail),
                             ("0.9,0,1,auto,0.3@estimate", declared)):
                fn()  # warm-up
                ts = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    fn()
                    ts.append(time.perf_counter() - t0)
                res[name] = statistics.median(ts)
        print(json.dumps({"size": size, "threads": args.threads, "repeats": args.repeats,
                          **{k: round(v, 3) for k, v in res.items()},
                          "ratio": round(res["0.9,0,1,auto,0.3@estimate"] / res["0.9,0@estimate"], 2)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
