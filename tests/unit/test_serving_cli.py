"""``raylake serve`` without a cluster: listing finds nothing (and starts no Ray), bad input is
one error line with exit code 1, and nothing is deployed on a bad argument."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from raylake.cli import app

ENV = {"COLUMNS": "250"}


def cli(home: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["--home", str(home), "serve", *args], env=ENV)


def test_help_lists_the_commands(home: Path) -> None:
    result = cli(home, "--help")
    assert result.exit_code == 0
    for command in ("deploy", "list", "show", "refresh", "delete", "logs"):
        assert command in result.stdout


def test_list_without_ray_finds_nothing_and_starts_nothing(home: Path) -> None:
    import ray

    result = cli(home, "list")
    assert result.exit_code == 0, result.stderr
    assert "no endpoints" in result.stdout
    assert cli(home, "list", "--json").stdout.strip() == "[]"
    assert not ray.is_initialized()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "absent"), "no endpoint named 'absent'"),
        (("refresh", "absent"), "no endpoint named 'absent'"),
        (("delete", "absent"), "no endpoint named 'absent'"),
        (("show", "Bad-Name"), "endpoint name 'Bad-Name'"),
        (("deploy", "x", "--autoscaling", "[1]"), "--autoscaling must be a JSON object"),
        (("deploy", "x", "--autoscaling", "{oops"), "--autoscaling must be JSON"),
        (("deploy", "Bad-Name"), "endpoint name 'Bad-Name'"),
        (("deploy", "x", "--feature", "v:f"), "features and entity_keys go together"),
    ],
)
def test_bad_input_is_one_error_line(home: Path, args: tuple[str, ...], message: str) -> None:
    result = cli(home, *args)
    assert result.exit_code == 1, (result.stdout, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
