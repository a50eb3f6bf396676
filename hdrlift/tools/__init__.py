"""Tools beside the library, a layer above the inference runtime: evaluation (``evaluate``), speed and
memory benchmarks (``bench``), ONNX export (``export``) and the generalisation suite (``suite``).

They use :mod:`hdrlift.inference` (Predictor, methods) as any user would; the runtime never imports them.
"""
