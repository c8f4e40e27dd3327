"""Failures are one line on stderr, and a landed file's name can neither add lines nor leak
where the landing folder is."""

from __future__ import annotations

from pathlib import Path

from pipelines.cli.errors import one_line
from tests.harness import ok, one_error_line

EVIL = "evil\nerror: fake line.parquet"
EVIL_SHOWN = "evil\\nerror: fake line.parquet"


def test_a_failure_naming_a_file_with_a_newline_stays_one_line_and_relative(loaded):
    (loaded.usage / EVIL).write_bytes(b"not parquet at all")
    done = loaded.materialize(fault="after_scan_file:1:raise")  # the only new file: EVIL
    line = one_error_line(done)
    assert line.endswith(f"injected fault at after_scan_file #1 ({EVIL_SHOWN})")
    assert str(loaded.landing) not in done.stderr


def test_problem_file_with_a_newline_in_its_name_is_one_escaped_relative_line(loaded):
    (loaded.usage / EVIL).write_bytes(b"not parquet at all")
    done = ok(loaded.materialize())
    lines = done.stderr.splitlines()
    assert lines[0].strip(), "output begins with an empty line"
    assert not [ln for ln in lines if ln.startswith("error:")], done.stderr
    problems = [ln for ln in lines if ln.startswith("problem file: evil")]
    assert len(problems) == 1 and problems[0].startswith(f"problem file: {EVIL_SHOWN}: ")
    assert str(loaded.landing) not in done.stderr


def test_one_line_escapes_landed_names_before_cutting(tmp_path: Path):
    root = tmp_path / "landing" / "usage"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a\rb\x1b[2Jc.parquet").write_bytes(b"")
    (root / EVIL).write_bytes(b"")
    message = (
        f"IO Error: cannot open '{root}/{EVIL}'\nLINE 1: SELECT ...\n"
        f"and '{root}/sub/a\rb\x1b[2Jc.parquet'"
    )
    assert one_line(message, root) == f"IO Error: cannot open '{EVIL_SHOWN}'"
    assert one_line(f"x '{root}/sub/a\rb\x1b[2Jc.parquet'", root) == (
        "x 'sub/a\\rb\\x1b[2Jc.parquet'"
    )
    assert one_line("tab\there\u2028next", root) == "tab\\there"
    assert one_line("", root) == ""
