"""The host config file (every `serve` setting, precedence flag > env >
file > default, `hangar config --print-default`) and TLS on the gRPC port."""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flyteidl.admin import agent_pb2
from flyteidl.service import agent_pb2_grpc

from flyte_tasks import create_request, literal_map, plain_template


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost / 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def list_agents(channel: grpc.Channel) -> set[str]:
    stub = agent_pb2_grpc.AgentMetadataServiceStub(channel)
    return {a.name for a in stub.ListAgents(agent_pb2.ListAgentsRequest(), timeout=10).agents}


@pytest.mark.parametrize("via", ["flags", "config"])
def test_tls_serves_secure_clients_only(start_server, tmp_path, via):
    cert, key = self_signed(tmp_path)
    if via == "flags":
        srv = start_server(["echo"], "--tls-cert", str(cert), "--tls-key", str(key))
    else:
        config = tmp_path / "hangar.toml"
        config.write_text(f'[tls]\ncert = "{cert}"\nkey = "{key}"\n')
        srv = start_server(["echo"], "--config", str(config))
    credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
    with grpc.secure_channel(srv.address, credentials) as channel:
        assert list_agents(channel) == {"echo"}
    with grpc.insecure_channel(srv.address) as plaintext:
        with pytest.raises(grpc.RpcError) as refused:
            list_agents(plaintext)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    srv.assert_alive()


def test_tls_needs_both_files(start_server, tmp_path):
    from conftest import ServerStartError

    cert, _ = self_signed(tmp_path)
    with pytest.raises(ServerStartError) as failed:
        start_server(["echo"], "--tls-cert", str(cert), timeout=30)
    assert "no key" in failed.value.stderr
    # The key where the certificate belongs: start-up fails before listening.
    _, key = self_signed(tmp_path)
    with pytest.raises(ServerStartError) as failed:
        start_server(["echo"], "--tls-cert", str(key), "--tls-key", str(key), timeout=30)
    assert "invalid TLS certificate or key" in failed.value.stderr


def test_printed_default_config_is_complete_and_loads(hangar_bin, start_server, tmp_path):
    printed = subprocess.run(
        [str(hangar_bin), "config", "--print-default"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    for key in [
        "listen",
        "max_request_bytes",
        "max_instances",
        "shutdown_drain_ms",
        "shutdown_grace_seconds",
        "metrics_listen",
        "perf_map",
        "worker_threads",
        "dir",
        "watch",
        "watch_debounce_ms",
        "cache_dir",
        "no_cache",
        "cert",
        "key",
        "memory_mib",
        "env_prefix",
        "destination",
        "format",
    ]:
        assert f"\n{key} = " in printed or f"\n# {key} = " in printed, key
    config = tmp_path / "hangar.toml"
    config.write_text(printed.replace('destination = "stdout"', 'destination = "off"'))
    # The file's listen (0.0.0.0:8000) loses to the --listen flag the
    # fixture passes; its plugin dir to --plugins.
    srv = start_server(["echo"], "--config", str(config))
    with grpc.insecure_channel(srv.address) as channel:
        assert list_agents(channel) == {"echo"}


def test_precedence_flag_over_env_over_file(start_server, tmp_path, monkeypatch):
    """max_request_bytes from the file (too small for the request), then
    overridden by the environment, then by a flag."""
    config = tmp_path / "hangar.toml"
    config.write_text("[server]\nmax_request_bytes = 2000\n")
    payload = literal_map({"text": "x" * 5000})

    def create(srv) -> grpc.StatusCode:
        try:
            srv.async_stub.CreateTask(create_request(plain_template("echo"), payload), timeout=30)
        except grpc.RpcError as e:
            return e.code()
        return grpc.StatusCode.OK

    assert create(start_server(["echo"], "--config", str(config))) == grpc.StatusCode.RESOURCE_EXHAUSTED
    monkeypatch.setenv("HANGAR_MAX_REQUEST_BYTES", "100000")
    assert create(start_server(["echo"], "--config", str(config))) == grpc.StatusCode.OK
    srv = start_server(["echo"], "--config", str(config), "--max-request-bytes", "2000")
    assert create(srv) == grpc.StatusCode.RESOURCE_EXHAUSTED


def serve_until_banner(hangar_bin: Path, config: Path, plugin_dir: Path) -> tuple[int | None, list[str], str]:
    """Starts `hangar serve --config CONFIG` (no --metrics-listen flag, so the
    file decides) and returns (exit code or None if it served, stdout lines
    up to the gRPC banner, stderr)."""
    env = {k: v for k, v in os.environ.items() if k not in ("HANGAR_METRICS_LISTEN", "HANGAR_LOG_FORMAT")}
    proc = subprocess.Popen(
        [str(hangar_bin), "serve", "--config", str(config), "--plugins", str(plugin_dir), "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: list[str] = []
    try:
        for _ in range(100):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
            if "hangar listening on" in line:
                break
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    served = any("hangar listening on" in l for l in lines)
    return (None if served else proc.returncode), lines, stderr


def test_metrics_listen_from_the_config_file(hangar_bin, tmp_path):
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    config = tmp_path / "hangar.toml"

    config.write_text('[server]\nmetrics_listen = "127.0.0.1:0"\n[audit]\ndestination = "off"\n')
    code, lines, stderr = serve_until_banner(hangar_bin, config, plugin_dir)
    assert code is None, stderr
    assert any(l.startswith("hangar metrics on 127.0.0.1:") for l in lines), lines

    config.write_text('[server]\nmetrics_listen = "off"\n[audit]\ndestination = "off"\n')
    code, lines, stderr = serve_until_banner(hangar_bin, config, plugin_dir)
    assert code is None, stderr
    assert not any(l.startswith("hangar metrics on") for l in lines), lines

    config.write_text('[server]\nmetrics_listen = "nowhere"\n')
    code, lines, stderr = serve_until_banner(hangar_bin, config, plugin_dir)
    assert code not in (None, 0), lines
    assert "metrics_listen" in stderr and "HOST:PORT" in stderr, stderr


def test_log_format_from_the_config_file(hangar_bin, tmp_path):
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    config = tmp_path / "hangar.toml"
    config.write_text('[logging]\nformat = "json"\n[audit]\ndestination = "off"\n[server]\nmetrics_listen = "off"\n')
    code, lines, stderr = serve_until_banner(hangar_bin, config, plugin_dir)
    assert code is None, stderr
    log_lines = [l for l in stderr.splitlines() if l.strip()]
    assert log_lines, stderr
    for line in log_lines:
        assert line.startswith("{") and line.endswith("}"), line


def test_perf_map_is_written_only_when_asked(start_server, tmp_path):
    """`perf_map = true` (or --perf-map, HANGAR_PERF_MAP) makes the engine
    write /tmp/perf-PID.map naming the plugins' functions, for `perf report`
    (docs/performance.md); without it no map is written."""
    config = tmp_path / "hangar.toml"
    config.write_text("[server]\nperf_map = true\n")
    on = start_server(["echo"], "--config", str(config))
    off = start_server(["echo"], "--perf-map=false")
    written = Path(f"/tmp/perf-{on.proc.pid}.map")
    try:
        assert written.is_file(), on.diagnostics()
        assert "wasm[" in written.read_text(), "the map names no guest function"
        assert not Path(f"/tmp/perf-{off.proc.pid}.map").exists()
    finally:
        written.unlink(missing_ok=True)


def test_worker_threads_from_flag_env_and_file(start_server, tmp_path, monkeypatch):
    """--worker-threads > HANGAR_WORKER_THREADS > [server] worker_threads;
    the count the runtime really started, and its scheduler, are in the
    "serving" line, and each server still answers. One thread is tokio's
    current-thread scheduler, more the multi-thread one, with its LIFO slot
    off (the build has .cargo/config.toml's `--cfg tokio_unstable`)."""
    config = tmp_path / "hangar.toml"
    config.write_text("[server]\nworker_threads = 1\n")
    monkeypatch.delenv("HANGAR_WORKER_THREADS", raising=False)

    def served_with(srv) -> tuple[str, str, str]:
        srv.async_stub.CreateTask(create_request(plain_template("echo"), literal_map({"x": 1})), timeout=30)
        serving = [line for line in srv.stderr().splitlines() if "serving" in line and "worker_threads=" in line]
        assert serving, srv.stderr()
        threads = serving[0].split("worker_threads=")[1].split()[0]
        scheduler = serving[0].split("scheduler=")[1].split()[0].strip('"')
        lifo_slot = serving[0].split("lifo_slot=")[1].split()[0].strip('"')
        return threads, scheduler, lifo_slot

    assert served_with(start_server(["echo"], "--config", str(config))) == ("1", "current-thread", "none")
    monkeypatch.setenv("HANGAR_WORKER_THREADS", "3")
    assert served_with(start_server(["echo"], "--config", str(config))) == ("3", "multi-thread", "off")
    assert served_with(start_server(["echo"], "--config", str(config), "--worker-threads", "2")) == (
        "2",
        "multi-thread",
        "off",
    )
    monkeypatch.delenv("HANGAR_WORKER_THREADS")
    # Unset: one per CPU the process may use (a cgroup CPU quota may lower
    # it below the affinity's count), and the current-thread scheduler
    # exactly when that is one.
    threads, scheduler, lifo_slot = served_with(start_server(["echo"]))
    assert 1 <= int(threads) <= len(os.sched_getaffinity(0))
    assert (scheduler, lifo_slot) == (("current-thread", "none") if threads == "1" else ("multi-thread", "off"))


def test_one_allowed_cpu_starts_the_current_thread_scheduler(start_server, monkeypatch):
    """Unset, on a process allowed one CPU (here its affinity, inherited
    from this test; in a pod, a CPU limit of 1), Hangar serves on one thread
    with the current-thread scheduler."""
    monkeypatch.delenv("HANGAR_WORKER_THREADS", raising=False)
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        srv = start_server(["echo"])
    finally:
        os.sched_setaffinity(0, allowed)
    assert os.sched_getaffinity(srv.proc.pid) == {min(allowed)}
    resp = srv.async_stub.CreateTask(create_request(plain_template("echo"), literal_map({"x": 1})), timeout=30)
    assert resp.resource_meta
    serving = [line for line in srv.stderr().splitlines() if "serving" in line and "worker_threads=" in line]
    assert serving, srv.stderr()
    assert "worker_threads=1" in serving[0], serving[0]
    assert 'scheduler="current-thread"' in serving[0] or "scheduler=current-thread" in serving[0], serving[0]


@pytest.mark.parametrize("where", ["flag", "file"])
@pytest.mark.parametrize("threads", ["0", "1025"])
def test_worker_threads_out_of_range_stop_start_up(start_server, tmp_path, monkeypatch, where, threads):
    from conftest import ServerStartError

    monkeypatch.delenv("HANGAR_WORKER_THREADS", raising=False)
    config = tmp_path / "hangar.toml"
    config.write_text(f"[server]\nworker_threads = {threads if where == 'file' else 1}\n")
    args = ["--config", str(config)] + (["--worker-threads", threads] if where == "flag" else [])
    with pytest.raises(ServerStartError) as failed:
        start_server(["echo"], *args, timeout=30)
    assert f"worker threads = {threads} is out of range: use 1 to 1024" in failed.value.stderr
