"""The Rust SDK's and the `webhook` example's own unit tests (`cargo test`,
natively: no WebAssembly), run from pytest so `make test` covers them with
no Makefile change. The host's tests run separately (`make test-rust`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from conftest import REPO_ROOT, tail

CRATES = ["hangar-agent", "webhook-agent"]
TIMEOUT_S = 900


@pytest.mark.parametrize("crate", CRATES)
def test_cargo_test_passes(crate):
    cargo = shutil.which("cargo")
    if cargo is None:
        pytest.fail("cargo not found on PATH: install Rust with rustup (https://rustup.rs)")
    env = {k: v for k, v in os.environ.items() if k not in ("RUSTC", "RUSTFLAGS", "RUSTC_BOOTSTRAP")}
    result = subprocess.run(
        [cargo, "test", "-p", crate],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, tail(output, 60)
    passed = sum(int(n) for n in re.findall(r"test result: ok\. (\d+) passed", output))
    assert passed >= 10, f"expected the crate's unit tests to run, saw {passed}:\n{tail(output)}"
