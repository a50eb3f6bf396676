"""The native kernel cache never loads a library it did not build (planted, foreign, empty, tampered)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hdrlift.nn import native

pytestmark = pytest.mark.skipif(native.compiler() is None or sys.platform != "linux",
                                reason="no C compiler: native kernels are never built or loaded")

_PLANT = r"""
#include <stdio.h>
__attribute__((constructor)) static void planted(void) {
    FILE *f = fopen("%s", "w");
    if (f) { fputs("ran", f); fclose(f); }
}
int uhd_fullres(void) { return 0; }
"""

_LOAD = ("import logging, sys; logging.basicConfig(format='%(levelname)s: %(message)s');"
         "from hdrlift.nn import native; lib = native.load('uhd_fullres');"
         "print('LOADED' if lib is not None else 'NONE')")


def _run(cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HDRLIFT_CACHE": str(cache), "HDRLIFT_NATIVE": "1"}
    return subprocess.run([sys.executable, "-c", _LOAD], capture_output=True, text=True, env=env, timeout=120)


def _plant(lib: Path, marker: Path) -> bytes:
    src = lib.parent / "planted.c"
    src.write_text(_PLANT % marker)
    cc = native.compiler()
    assert cc is not None
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(src)], check=True, capture_output=True)
    src.unlink()
    return lib.read_bytes()


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("WARNING")]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A cache with a genuine build (first run), to plant into; returns (cache root, library path)."""
    cache = tmp_path_factory.mktemp("cache")
    r = _run(cache)
    assert r.returncode == 0 and "LOADED" in r.stdout, r.stderr
    assert _warnings(r.stderr) == []
    cc = native.compiler()
    assert cc is not None
    lib, _ = native.library_path("uhd_fullres", cache, cc)
    assert lib.is_file() and lib.with_suffix(".json").is_file()
    d = native.native_dir(cache)
    assert (os.stat(d).st_mode & 0o777) == 0o700 and os.stat(d).st_uid == os.getuid()
    return cache, lib


def test_genuine_build_is_reused_without_rebuild(built: tuple[Path, Path]) -> None:
    cache, lib = built
    before = os.stat(lib).st_mtime_ns
    r = _run(cache)
    assert "LOADED" in r.stdout and _warnings(r.stderr) == []
    assert os.stat(lib).st_mtime_ns == before


@pytest.mark.parametrize("forge_record", [False, True], ids=["no-record", "record-of-other-hash"])
def test_planted_library_is_not_loaded_and_is_rebuilt(built: tuple[Path, Path], tmp_path: Path,
                                                      forge_record: bool) -> None:
    cache, lib = built
    marker = tmp_path / "constructor-ran"
    rec = lib.with_suffix(".json")
    genuine_record = json.loads(rec.read_text())
    planted = _plant(lib, marker)
    if forge_record:  # a record of this version/key but the genuine hash: the planted file must not pass
        rec.write_text(json.dumps(genuine_record))
    else:
        rec.unlink()
    r = _run(cache)
    assert not marker.exists(), "the planted library's constructor ran"
    assert "LOADED" in r.stdout, r.stderr  # the rebuilt genuine library
    warns = _warnings(r.stderr)
    assert len(warns) == 1 and "ignoring cached" in warns[0] and "rebuilding" in warns[0], r.stderr
    assert lib.read_bytes() != planted
    assert json.loads(rec.read_text())["sha256"] == hashlib.sha256(lib.read_bytes()).hexdigest()
    r2 = _run(cache)  # and the rebuilt one is trusted afterwards
    assert "LOADED" in r2.stdout and _warnings(r2.stderr) == [] and not marker.exists()


def test_empty_library_is_rebuilt(built: tuple[Path, Path]) -> None:
    cache, lib = built
    lib.write_bytes(b"")
    r = _run(cache)
    assert "LOADED" in r.stdout
    assert len(_warnings(r.stderr)) == 1 and "empty" in r.stderr
    assert lib.stat().st_size > 0


def test_record_of_other_version_is_rebuilt(built: tuple[Path, Path]) -> None:
    cache, lib = built
    rec = lib.with_suffix(".json")
    data = json.loads(rec.read_text())
    rec.write_text(json.dumps({**data, "hdrlift": "0.0.0-other"}))
    r = _run(cache)
    assert "LOADED" in r.stdout and len(_warnings(r.stderr)) == 1 and "another hdrlift version" in r.stderr
    assert json.loads(rec.read_text())["hdrlift"] == data["hdrlift"]


def test_folder_open_to_others_is_made_private_and_rebuilt(tmp_path: Path) -> None:
    cache = tmp_path / "c"
    assert "LOADED" in _run(cache).stdout
    d = native.native_dir(cache)
    cc = native.compiler()
    assert cc is not None
    lib, _ = native.library_path("uhd_fullres", cache, cc)
    marker = tmp_path / "constructor-ran"
    rec = json.loads(lib.with_suffix(".json").read_text())
    _plant(lib, marker)  # someone else wrote into the open folder, record hash forged to the planted file
    lib.with_suffix(".json").write_text(json.dumps({**rec, "sha256": hashlib.sha256(lib.read_bytes()).hexdigest()}))
    os.chmod(d, 0o777)
    r = _run(cache)
    assert not marker.exists()
    assert "LOADED" in r.stdout
    assert len(_warnings(r.stderr)) == 1 and "open to other users" in r.stderr
    assert os.stat(d).st_mode & 0o777 == 0o700


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give the folder to another user")
def test_folder_of_another_user_is_never_used(tmp_path: Path) -> None:
    cache = tmp_path / "c"
    d = native.native_dir(cache)
    d.mkdir(parents=True, mode=0o700)
    cc = native.compiler()
    assert cc is not None
    lib, _ = native.library_path("uhd_fullres", cache, cc)
    marker = tmp_path / "constructor-ran"
    _plant(lib, marker)
    os.chown(d, 65534, 65534)
    os.chown(lib, 65534, 65534)
    r = _run(cache)
    assert not marker.exists()
    assert "NONE" in r.stdout
    warns = _warnings(r.stderr)
    assert len(warns) == 1 and "belongs to uid 65534" in warns[0]


def test_cache_under_a_folder_others_can_rewrite_is_not_used(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    os.chmod(root, 0o777)  # world-writable, no sticky bit: others could swap native/
    r = _run(root)
    assert "NONE" in r.stdout
    assert len(_warnings(r.stderr)) == 1 and "can be changed by other users" in r.stderr
    assert not native.native_dir(root).exists()
