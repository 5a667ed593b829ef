"""The names before the rename keep working, each saying once what replaced it: `LAKE_*`
settings (POLICY_* wins where both are given), the `lake-train` and `lake-serve` commands."""

import logging
import os
import sys
from pathlib import Path

import pytest

from service import settings as settings_module
from service.settings import Settings
from tests.processes import run
from tests.timing import seconds

BIN = Path(sys.executable).parent


@pytest.fixture
def environment(monkeypatch, caplog):
    """Returns monkeypatch, with no POLICY_* or LAKE_* variable set and no warning given yet."""
    for name in list(os.environ):
        if name.startswith(("POLICY_", "LAKE_")) and name != "POLICY_TESTS_RUN":
            monkeypatch.delenv(name)
    monkeypatch.setattr(settings_module, "_warned", set())
    caplog.set_level(logging.WARNING, logger=settings_module.__name__)
    return monkeypatch


def test_settings_are_read_from_policy_variables(environment, caplog):
    environment.setenv("POLICY_KEEP_VERSIONS", "7")
    assert Settings().keep_versions == 7
    assert caplog.messages == []


def test_an_old_lake_variable_works_and_is_named_once(environment, caplog):
    environment.setenv("LAKE_KEEP_VERSIONS", "7")
    assert Settings().keep_versions == 7
    assert Settings().keep_versions == 7
    assert caplog.messages == ["LAKE_KEEP_VERSIONS is deprecated: set POLICY_KEEP_VERSIONS"]


def test_the_new_name_wins_and_the_two_values_are_not_merged(environment, caplog):
    environment.setenv("LAKE_PINNED_VERSIONS", '{"a": 1}')
    environment.setenv("POLICY_PINNED_VERSIONS", '{"b": 2}')
    assert Settings().pinned_versions == {"b": 2}
    assert caplog.messages == ["LAKE_PINNED_VERSIONS is ignored: POLICY_PINNED_VERSIONS is set"]


@pytest.mark.parametrize("old, new", [("lake-serve", "policy-serve"), ("lake-train", "policy-train")])
def test_an_old_command_says_it_is_deprecated_in_one_line_then_works(old, new):
    result = run([str(BIN / old), "--help"], capture_output=True, text=True, timeout=seconds(120))
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"warning: {old} is deprecated: use {new}\n"
    assert result.stdout.startswith("usage:")


@pytest.mark.parametrize("variable, value, message", [
    ("LAKE_PORT", "abc", "error: invalid setting LAKE_PORT: Input should be a valid integer"),
    ("LAKE_PINNED_VERSIONS", "{bad", "error: invalid settings: LAKE_PINNED_VERSIONS is not valid JSON"),
    ("POLICY_PINNED_VERSIONS", "{bad", "error: invalid settings: POLICY_PINNED_VERSIONS is not valid JSON"),
    ("POLICY_LOG_LEVEL", "loud", "error: invalid setting POLICY_LOG_LEVEL: Input should be 'debug'"),
])
def test_a_bad_setting_is_named_as_the_user_wrote_it(environment, capsys, variable, value, message):
    from service.cli import main

    environment.setenv(variable, value)
    assert main([]) == 2
    assert capsys.readouterr().err.startswith(message)
