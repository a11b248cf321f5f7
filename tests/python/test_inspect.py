"""`hangar inspect` and `hangar check`: what security teams and CI read.

Both run the real binary on the built plugins, with no server.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import strip_ansi, tail

# `check` prints `FILE:LINE: SEVERITY: message[: fix]`, one problem a line.
PROBLEM = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<severity>error|warning): (?P<message>.+)$")


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (
            f"exit {self.returncode}: {self.args}\n"
            f"stdout:\n{tail(self.stdout)}\nstderr:\n{tail(self.stderr)}"
        )

    def problems(self) -> list[dict]:
        found = []
        for line in self.stdout.splitlines():
            match = PROBLEM.match(line)
            assert match, f"not a problem line: {line!r}\n{self.describe()}"
            found.append(match.groupdict())
        return found


@pytest.fixture
def hangar(hangar_bin, cache_dir):
    """``hangar(*args)`` → Result, with the session's compile cache."""

    def run(*args: str, timeout: float = 120.0, env: dict[str, str] | None = None) -> Result:
        argv = [str(hangar_bin), *map(str, args), "--cache-dir", str(cache_dir)]
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(os.environ, NO_COLOR="1", **(env or {})),
        )
        return Result(argv, proc.returncode, proc.stdout, strip_ansi(proc.stderr))

    return run


def plugin_dir(tmp_path: Path, plugin_files: dict[str, Path], *names: str) -> Path:
    directory = tmp_path / "plugins"
    directory.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(plugin_files[name], directory / f"{name}.wasm")
    return directory


def inspect_json(hangar, *paths) -> dict:
    result = hangar("inspect", *paths, "--json")
    assert result.returncode == 0, result.describe()
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError as e:
        pytest.fail(f"stdout is not JSON ({e}).\n{result.describe()}")


# --------------------------------------------------------------------------
# inspect


def test_inspect_json_gives_identity_digest_and_interfaces(hangar, plugin_files):
    echo = plugin_files["echo"]
    report = inspect_json(hangar, echo)
    assert report["schema"] == "hangar.inspect/v1"
    [plugin] = report["plugins"]
    assert plugin["plugin"] == "echo"
    assert plugin["loads"] is True
    assert plugin["sha256"] == hashlib.sha256(echo.read_bytes()).hexdigest()
    assert plugin["size_bytes"] == echo.stat().st_size
    assert plugin["agent"]["name"] == "echo"
    assert plugin["agent"]["kind"] == "async"
    assert {"name": "echo", "version": 0} in plugin["agent"]["categories"]
    exports = {e.split("@")[0] for e in plugin["exports"]}
    assert {"flyte:agent/identity", "flyte:agent/async-handler"} <= exports, plugin["exports"]
    assert "flyte:agent/logging@0.1.0" in plugin["imports"], plugin["imports"]
    # No manifest: nothing granted, no findings.
    assert plugin["manifest"]["present"] is False
    assert plugin["manifest"]["http"]["allow"] == []
    assert plugin["manifest"]["secrets"]["names"] == []
    assert plugin["findings"] == []
    assert plugin["limits"]["memory_mib"] == 128
    assert report["summary"] == {"plugins": 1, "loaded": 1, "errors": 0, "warnings": 0}


def test_inspect_a_directory_reports_every_plugin(hangar, plugin_files, tmp_path):
    directory = plugin_dir(tmp_path, plugin_files, "echo", "echo-sync", "observable")
    report = inspect_json(hangar, directory)
    by_name = {p["plugin"]: p for p in report["plugins"]}
    assert set(by_name) == {"echo", "echo-sync", "observable"}
    assert by_name["echo-sync"]["agent"]["kind"] == "sync"
    assert by_name["observable"]["agent"]["observable"] is True


def test_http_grant_to_a_plugin_without_wasi_http_is_an_over_grant(hangar, plugin_files, tmp_path):
    directory = plugin_dir(tmp_path, plugin_files, "echo")
    (directory / "echo.toml").write_text(
        '[limits]\nmemory_mib = 64\n\n[[http.allow]]\nurl = "https://api.example.com/v1/"\nmethods = ["GET"]\n'
    )
    report = inspect_json(hangar, directory / "echo.wasm")
    [plugin] = report["plugins"]
    assert plugin["loads"] is True
    assert plugin["limits"]["memory_mib"] == 64
    assert plugin["manifest"]["http"]["allow"] == [
        {"url": "https://api.example.com/v1/", "methods": ["GET"], "line": 5}
    ]
    [finding] = plugin["findings"]
    assert finding["code"] == "http-over-grant"
    assert finding["severity"] == "warning"
    assert finding["line"] == 5
    assert "wasi:http/outgoing-handler" in finding["message"]

    human = hangar("inspect", directory / "echo.wasm")
    assert human.returncode == 0, human.describe()
    assert "granted but never importable" in human.stdout, human.describe()
    assert "https://api.example.com/v1/" in human.stdout


def test_imported_but_not_granted_is_reported(hangar, plugin_files):
    report = inspect_json(hangar, plugin_files["http-client"], plugin_files["secret-reader"])
    codes = {p["plugin"]: [f["code"] for f in p["findings"]] for p in report["plugins"]}
    assert codes == {
        "http-client": ["http-not-granted"],
        "secret-reader": ["secrets-not-granted"],
    }, codes


def test_inspect_shows_secret_names_never_values(hangar, plugin_files, tmp_path):
    directory = plugin_dir(tmp_path, plugin_files, "secret-reader")
    (directory / "secret-reader.toml").write_text('[secrets]\nnames = ["api_token"]\n')
    value = "s3cr3t-value-never-printed"
    for args in (["--json"], []):
        result = hangar("inspect", directory, *args, env={"_FSEC_api_token": value})
        assert result.returncode == 0, result.describe()
        assert value not in result.stdout + result.stderr
        assert "api_token" in result.stdout
    data = json.loads(hangar("inspect", directory, "--json").stdout)
    [plugin] = data["plugins"]
    assert plugin["manifest"]["secrets"]["names"] == [{"name": "api_token", "line": 2}]
    assert plugin["findings"] == []


def test_inspect_shows_config_and_config_nobody_reads(hangar, plugin_files, tmp_path):
    directory = plugin_dir(tmp_path, plugin_files, "echo")
    (directory / "echo.toml").write_text(
        '[limits]\nmemory_mib = 64\n\n[config]\nbase_url = "https://api.example.com/v1"\nregion = "eu"\n'
    )
    [plugin] = inspect_json(hangar, directory / "echo.wasm")["plugins"]
    assert plugin["manifest"]["config"] == [
        {"key": "base_url", "value": "https://api.example.com/v1", "line": 5},
        {"key": "region", "value": "eu", "line": 6},
    ]
    # The Rust echo agent never imports flyte:agent/config.
    [finding] = plugin["findings"]
    assert (finding["code"], finding["line"], finding["severity"]) == ("config-unread", 5, "warning")
    assert "flyte:agent/config" in finding["message"], finding
    human = hangar("inspect", directory / "echo.wasm")
    assert human.returncode == 0, human.describe()
    assert "config.base_url" in human.stdout and '"eu"' in human.stdout, human.describe()


def test_check_names_the_line_of_a_bad_config_key(hangar, plugin_files, tmp_path):
    directory = plugin_dir(tmp_path, plugin_files, "echo")
    (directory / "echo.toml").write_text('[config]\nok = "1"\n"not ok" = "2"\n')
    result = hangar("check", directory)
    assert result.returncode == 1, result.describe()
    [problem] = [p for p in result.problems() if p["severity"] == "error"]
    assert problem["file"].endswith("echo.toml") and problem["line"] == "3", problem
    assert '"not ok" is not a valid config key' in problem["message"], problem


def test_a_broken_plugin_is_reported_not_fatal(hangar, plugin_files, tmp_path):
    directory = plugin_dir(tmp_path, plugin_files, "echo")
    (directory / "junk.wasm").write_bytes(b"not wasm at all")
    report = inspect_json(hangar, directory)
    by_name = {p["plugin"]: p for p in report["plugins"]}
    assert by_name["echo"]["loads"] is True
    junk = by_name["junk"]
    assert junk["loads"] is False and junk["agent"] is None and junk["imports"] is None
    assert [f["code"] for f in junk["findings"]] == ["load-failed"]
    assert report["summary"]["errors"] == 1


def test_inspect_help_teaches(hangar_bin):
    out = subprocess.run([str(hangar_bin), "inspect", "--help"], capture_output=True, text=True, check=True).stdout
    assert "Examples:" in out and "--json" in out and "imported but not granted" in out


# --------------------------------------------------------------------------
# check


def test_check_a_clean_directory_passes(hangar, plugin_files, tmp_path):
    directory = plugin_dir(tmp_path, plugin_files, "echo", "wait", "echo-sync")
    digest = hashlib.sha256(plugin_files["wait"].read_bytes()).hexdigest()
    (directory / "wait.toml").write_text(f'sha256 = "{digest}"\n[limits]\nmemory_mib = 32\n')
    result = hangar("check", directory)
    assert result.returncode == 0, result.describe()
    assert result.stdout == "", result.describe()
    assert "3 plugins, 0 errors, 0 warnings: OK" in result.stderr, result.describe()


def test_check_names_file_and_line_of_a_bad_manifest(hangar, plugin_files, tmp_path):
    directory = plugin_dir(tmp_path, plugin_files, "echo")
    (directory / "echo.toml").write_text("[limits]\ncall_timeout_ms = 500\nmemory_mb = 64\n")
    result = hangar("check", directory)
    assert result.returncode == 1, result.describe()
    [problem] = result.problems()
    assert problem["file"] == str(directory / "echo.toml")
    assert problem["line"] == "3"
    assert problem["severity"] == "error"
    assert "memory_mb" in problem["message"] and "fix the spelling" in problem["message"]


def test_check_reports_a_sha256_mismatch_at_the_pin(hangar, plugin_files, tmp_path):
    directory = plugin_dir(tmp_path, plugin_files, "echo")
    (directory / "echo.toml").write_text("# pinned\n\nsha256 = \"" + "0" * 64 + '"\n')
    result = hangar("check", directory)
    assert result.returncode == 1, result.describe()
    [problem] = result.problems()
    assert (problem["file"], problem["line"]) == (str(directory / "echo.toml"), "3")
    digest = hashlib.sha256(plugin_files["echo"].read_bytes()).hexdigest()
    assert "does not match" in problem["message"] and digest in problem["message"]


def test_check_reports_a_duplicate_task_type(hangar, plugin_files, tmp_path):
    directory = plugin_dir(tmp_path, plugin_files, "echo")
    shutil.copy(plugin_files["echo"], directory / "echo-copy.wasm")
    result = hangar("check", directory)
    assert result.returncode == 1, result.describe()
    problems = result.problems()
    duplicate = [p for p in problems if "task type \"echo\"" in p["message"]]
    assert len(duplicate) == 1, result.describe()
    # Reported on the later file (sorted), naming the earlier one.
    assert (duplicate[0]["file"], duplicate[0]["line"]) == (str(directory / "echo.wasm"), "1")
    assert str(directory / "echo-copy.wasm") in duplicate[0]["message"]


def test_check_reports_an_orphan_manifest(hangar, plugin_files, tmp_path):
    directory = plugin_dir(tmp_path, plugin_files, "echo", "wait")
    (directory / "wiat.toml").write_text("[limits]\nmemory_mib = 64\n")
    result = hangar("check", directory)
    assert result.returncode == 1, result.describe()
    [problem] = result.problems()
    assert (problem["file"], problem["line"]) == (str(directory / "wiat.toml"), "1")
    assert "no wiat.wasm" in problem["message"] and "did you mean wait.toml" in problem["message"]


def test_check_warnings_fail_only_with_strict(hangar, plugin_files, tmp_path):
    directory = plugin_dir(tmp_path, plugin_files, "echo")
    (directory / "echo.toml").write_text('[secrets]\nnames = ["token"]\n')
    result = hangar("check", directory)
    assert result.returncode == 0, result.describe()
    [problem] = result.problems()
    assert (problem["line"], problem["severity"]) == ("2", "warning")
    assert "granted but never importable" in problem["message"]
    strict = hangar("check", directory, "--strict")
    assert strict.returncode == 1, strict.describe()


def test_check_validates_the_host_config(hangar, plugin_files, tmp_path):
    directory = plugin_dir(tmp_path, plugin_files, "echo")
    config = tmp_path / "hangar.toml"
    config.write_text("[audit]\ndestination = \"stdout\"\n\n[limits]\nmemory_mib = 0\n")
    result = hangar("check", directory, "--config", config)
    assert result.returncode == 1, result.describe()
    [problem] = result.problems()
    assert (problem["file"], problem["line"]) == (str(config), "5")
    assert "limits.memory_mib = 0 is out of range" in problem["message"]


def test_check_help_teaches(hangar_bin):
    out = subprocess.run([str(hangar_bin), "check", "--help"], capture_output=True, text=True, check=True).stdout
    assert "Examples:" in out and "--strict" in out and "--config" in out
    assert "one line per problem" in out


def test_inspect_reports_the_effective_reuse_policy(hangar, plugin_files, tmp_path):
    """What `[reuse]` grants is part of what a reviewer reads: on or off, how
    many idle instances, and how long each may stay idle (the defaults when
    the manifest leaves them out)."""
    directory = plugin_dir(tmp_path, plugin_files, "echo", "echo-sync", "observable")
    (directory / "echo.toml").write_text("[reuse]\nenabled = true\nmax_idle = 4\nidle_timeout_seconds = 7\n")
    (directory / "echo-sync.toml").write_text("[reuse]\nenabled = true\n")
    by_name = {p["plugin"]: p for p in inspect_json(hangar, directory)["plugins"]}
    assert by_name["echo"]["reuse"] == {"enabled": True, "max_idle": 4, "idle_timeout_seconds": 7}
    assert by_name["echo-sync"]["reuse"] == {"enabled": True, "max_idle": 16, "idle_timeout_seconds": 60}
    assert by_name["observable"]["reuse"] == {"enabled": False, "max_idle": None, "idle_timeout_seconds": None}
    human = hangar("inspect", directory / "echo.wasm")
    assert human.returncode == 0, human.describe()
    assert "up to 4 idle, each for at most 7 s" in human.stdout, human.stdout
