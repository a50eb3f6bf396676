"""Help that teaches: a help line for every option, examples for every command (that parse), method
names in -m's help, negative number lists as option values, --version, shell completion scripts."""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess

import pytest

from hdrlift._version import __version__
from hdrlift.cli.main import build_parser, join_negative_values, main


def commands() -> dict[str, argparse.ArgumentParser]:
    p = build_parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_option_has_help_and_every_command_examples() -> None:
    for name, sp in commands().items():
        missing = [a.option_strings or [a.dest] for a in sp._actions if not a.help]
        assert not missing, f"hdrlift {name}: options without a help line: {missing}"
        assert sp.epilog and "examples:" in sp.epilog, f"hdrlift {name} has no examples"
        assert f"hdrlift {name}" in sp.epilog or name == "completion"
        sp.format_help()  # every %(...)s in the help lines expands


def example_lines() -> list[str]:
    out = []
    for sp in [build_parser(), *commands().values()]:
        for line in (sp.epilog or "").splitlines():
            cmd = line.split("#")[0].split(" > ")[0].strip()  # the command, not its redirection
            if cmd.startswith("hdrlift ") and "&&" not in cmd and "COMMAND" not in cmd:
                out.append(cmd)
    return out


@pytest.mark.parametrize("line", example_lines())
def test_examples_in_the_help_parse(line: str) -> None:
    p = build_parser()
    args = p.parse_args(join_negative_values(p, shlex.split(line)[1:]))
    assert args.command


def test_negative_number_lists_are_option_values() -> None:
    p = build_parser()
    argv = ["degrade", "a.exr", "-o", "d", "--exposures", "-1,0,1.5"]
    assert p.parse_args(join_negative_values(p, argv)).exposures == [-1.0, 0.0, 1.5]
    args = p.parse_args(join_negative_values(p, ["degrade", "a.exr", "--exposures", "-2", "-o", "d", "--seed", "-3"]))
    assert (args.exposures, args.seed, args.output) == ([-2.0], -3, "d")
    # only options of the command given; a flag followed by a negative number is not changed
    assert join_negative_values(p, ["predict", "x.jpg", "--json", "-1"]) == ["predict", "x.jpg", "--json", "-1"]
    assert join_negative_values(p, ["predict", "-m", "-1x"]) == ["predict", "-m", "-1x"]


def test_exposures_with_a_negative_first_value_run(tmp_path, capsys) -> None:
    from conftest import make_hdr_scene

    import hdrlift.io as hio

    hio.write_image(tmp_path / "s.exr", make_hdr_scene(24, 32))
    assert main(["degrade", str(tmp_path / "s.exr"), "-o", str(tmp_path / "p"), "--exposures", "-1,0,1.5",
                 "--layout", "plain"]) == 0
    assert len(list((tmp_path / "p" / "plain").glob("*.png"))) == 3


def test_method_help_lists_names_and_default(capsys) -> None:
    from hdrlift.checkpoint import default_name, pretrained_names
    from hdrlift.operators import list_operators

    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert f"default = {default_name()}" in out
    for n in [o.name for o in list_operators()] + list(pretrained_names()):
        assert n in out


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"hdrlift {__version__}"


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_completion(tmp_path, capsys) -> None:
    assert main(["completion", "bash"]) == 0
    script = tmp_path / "c.bash"
    script.write_text(capsys.readouterr().out)
    probe = (f"source {shlex.quote(str(script))}\n"
             't() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); COMPREPLY=(); _hdrlift; '
             'echo "${COMPREPLY[*]}"; }\n'
             "t hdrlift vi\nt hdrlift predict --for\nt hdrlift predict -f uh\nt hdrlift view --rep\n"
             "t hdrlift completion z\nt hdrlift degrade --exp\n")
    r = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["view", "--format", "uhdr", "--report", "zsh", "--exposures"]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="no zsh")
def test_zsh_completion(tmp_path, capsys) -> None:
    assert main(["completion", "zsh"]) == 0
    script = tmp_path / "_hdrlift"
    script.write_text(capsys.readouterr().out)
    assert subprocess.run(["zsh", "-n", str(script)], capture_output=True, timeout=30).returncode == 0
    r = subprocess.run(["zsh", "-f", "-c", f"autoload -U compinit; compinit -u -d {tmp_path}/zc; "
                        f"source {shlex.quote(str(script))}; print -r -- $_comps[hdrlift]"],
                       capture_output=True, text=True, timeout=30)
    assert r.stdout.strip() == "_hdrlift", r.stderr


def test_completion_methods(capsys) -> None:
    from hdrlift.checkpoint import default_name

    assert main(["completion", "methods"]) == 0
    names = capsys.readouterr().out.split()
    assert "default" in names and "linear" in names and default_name() in names


def test_one_module_per_command() -> None:
    """hdrlift/cli/commands holds exactly one module per command, each with add_parser and cmd_<name>."""
    from pathlib import Path

    from hdrlift.cli import commands

    subs = next(a for a in build_parser()._actions if a.choices and "predict" in a.choices)
    assert list(subs.choices) == list(commands.COMMANDS)
    files = sorted(p.stem for p in Path(commands.__file__).parent.glob("*.py") if p.stem != "__init__")
    assert files == sorted(commands.COMMANDS)
    for mod, name in zip(commands.command_modules(), commands.COMMANDS):
        assert callable(mod.add_parser) and subs.choices[name].get_default("func") is getattr(mod, f"cmd_{name}")
