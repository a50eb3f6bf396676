"""The one registry idiom (hdrlift.registry.Registry) and the registries built with it."""

from __future__ import annotations

import pytest

from hdrlift.errors import ConfigError, DataError, HdrliftError, ModelError
from hdrlift.registry import Registry


def test_registry_order_lookup_and_errors() -> None:
    calls = []

    def entries() -> list[tuple[str, int]]:
        calls.append(1)
        return [("b", 2), ("a", 1)]

    reg = Registry("thing", entries, error=DataError, hint=lambda n: " (did you mean a?)" if n == "aa" else "")
    assert not calls  # read on first use only
    assert reg.names() == ["b", "a"] and reg.values() == [2, 1] and list(reg) == ["b", "a"]
    assert reg.get("a") == 1 and reg["b"] == 2 and "a" in reg and "c" not in reg and len(reg) == 2
    assert calls == [1]
    with pytest.raises(DataError, match=r"^unknown thing 'aa' \(did you mean a\?\); available: b, a$"):
        reg.get("aa")
    with pytest.raises(ConfigError, match="unknown x 'z'"):
        Registry("x", [("y", 0)]).get("z")  # ConfigError by default
    with pytest.raises(ValueError, match="duplicate name 'y'"):
        Registry("x", [("y", 0), ("y", 1)])


@pytest.mark.parametrize(("lookup", "what", "error"), [
    ("hdrlift.models.registry:get_spec", "model", ModelError),
    ("hdrlift.operators.registry:get_operator", "operator", ConfigError),
    ("hdrlift.metrics.registry:get_metric", "metric", ConfigError),
    ("hdrlift.metrics.protocols:get_protocol", "protocol", ConfigError),
    ("hdrlift.train.recipes:get_recipe", "training method", ConfigError),
    ("hdrlift.data.layouts:kind_records", "dataset kind", DataError),
])
def test_every_registry_speaks_the_same_way(lookup: str, what: str, error: type[HdrliftError], tmp_path) -> None:
    import importlib

    mod, fn = lookup.split(":")
    f = getattr(importlib.import_module(mod), fn)
    with pytest.raises(error, match=rf"^unknown {what} 'nope'; available: \w"):
        f("nope") if fn != "kind_records" else f("nope", tmp_path)


def test_dataset_kinds_declare_test_sets() -> None:
    from hdrlift.data.layouts import DATASET_KINDS, KINDS, TRAIN_KINDS

    assert set(KINDS) - set(TRAIN_KINDS) == {"hdr_eye", "si_hdr"}
    with pytest.raises(DataError, match="^si_hdr is a test set only; train on"):
        DATASET_KINDS.get("si_hdr").check(train=True)
    assert DATASET_KINDS.get("si_hdr").check(train=False).name == "si_hdr"
