"""deploy/: the Kubernetes manifests, the propeller snippet and the Dockerfile.

* Every Kubernetes document under deploy/kubernetes is validated against the
  JSON schema of a pinned Kubernetes version (``kubernetes-validate``, which
  ships the schemas: no cluster, no network), strictly: an unknown or
  misspelt field is an error.
* Hangar's own invariants across files: probes hit the gRPC container port,
  the Service reaches it, the ConfigMap's hangar.toml passes
  ``hangar check --config``, the secret mount is the config's secrets dir, the
  propeller snippet names the Service's DNS name and port and matches the
  README's snippet, the Dockerfile's runtime image is what the Deployment
  expects.

No cluster or Docker engine is needed; ``docker build`` itself is not run.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import dockerfile
import kubernetes_validate
import pytest
import yaml

from conftest import REPO_ROOT, hangar_binary, strip_ansi

DEPLOY = REPO_ROOT / "deploy"
K8S_DIR = DEPLOY / "kubernetes"
# The oldest Kubernetes these manifests promise to work on (gRPC probes are
# GA since 1.27; autoscaling/v2 and policy/v1 long before).
K8S_VERSION = "1.31.0"

PROPELLER_SNIPPET = DEPLOY / "propeller-connector-config.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"


def k8s_files() -> list[Path]:
    return sorted(p for p in K8S_DIR.rglob("*.yaml"))


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def all_resources() -> list[tuple[Path, dict]]:
    return [(p, doc) for p in k8s_files() for doc in documents(p) if doc.get("kind") != "Kustomization"]


def one(kind: str, name: str | None = None) -> dict:
    """The single resource of ``kind`` (and ``name``) applied by kustomization.yaml."""
    found = [doc for _, doc in applied() if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''} in deploy/kubernetes, found {len(found)}"
    return found[0]


def kustomization() -> dict:
    return documents(K8S_DIR / "kustomization.yaml")[0]


def applied() -> list[tuple[Path, dict]]:
    """What ``kubectl apply -k deploy/kubernetes`` creates."""
    return [(K8S_DIR / name, doc) for name in kustomization()["resources"] for doc in documents(K8S_DIR / name)]


def validate(doc: dict) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


# --------------------------------------------------------------------------
# Schemas


@pytest.mark.parametrize("path", k8s_files(), ids=lambda p: str(p.relative_to(K8S_DIR)))
def test_every_document_matches_the_kubernetes_schema(path):
    docs = documents(path)
    assert docs, f"{path}: no YAML document"
    for doc in docs:
        if doc.get("kind") == "Kustomization":
            continue  # not a Kubernetes API object; checked below
        try:
            validate(doc)
        except kubernetes_validate.ValidationError as e:
            where = ".".join(str(p) for p in e.path)
            pytest.fail(f"{path}: {doc['kind']}/{doc['metadata']['name']}: {where}: {e.message}", pytrace=False)
        except kubernetes_validate.SchemaNotFoundError as e:
            pytest.fail(f"{path}: {e.message}", pytrace=False)


@pytest.mark.parametrize(
    "breakage",
    [
        ("unknown field", lambda d: d["spec"]["template"]["spec"]["containers"][0].update(readinesProbe={})),
        ("wrong type", lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(containerPort="8000")),
        ("missing required field", lambda d: d["spec"].pop("selector")),
        ("probe without a handler field", lambda d: d["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["grpc"].pop("port")),
    ],
    ids=lambda b: b[0],
)
def test_the_schema_check_catches_a_broken_deployment(breakage):
    """The validator is strict enough to matter: each breakage is refused."""
    _, mutate = breakage
    doc = copy.deepcopy(one("Deployment", "hangar"))
    validate(doc)  # the original passes
    mutate(doc)
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(doc)


def test_kustomization_applies_every_manifest_once():
    k = kustomization()
    assert k["apiVersion"] == "kustomize.config.k8s.io/v1beta1" and k["kind"] == "Kustomization"
    assert k["namespace"] == "flyte"
    listed = k["resources"]
    assert len(listed) == len(set(listed)), listed
    top_level = sorted(p.name for p in K8S_DIR.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == top_level, "kustomization.yaml must list exactly the manifests beside it"
    for path, doc in applied():
        assert doc["metadata"].get("namespace") == "flyte", f"{path}: namespace"
    images = {entry["name"] for entry in k.get("images", [])}
    used = {c["image"].rsplit(":", 1)[0] for c in pod_spec()["containers"] + pod_spec()["initContainers"]}
    assert images <= used, f"kustomization images {images - used} match no container"


def test_kustomize_build_output_is_valid():
    """When kustomize is installed (``go install
    sigs.k8s.io/kustomize/kustomize/v5@v5.7.1``; not needed by CI), the
    rendered output validates too."""
    binary = os.environ.get("KUSTOMIZE") or shutil.which("kustomize")
    if not binary:
        pytest.skip("kustomize not installed (optional; set KUSTOMIZE or put it on PATH)")
    result = subprocess.run(
        [binary, "build", str(K8S_DIR)], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, result.stderr
    rendered = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert len(rendered) == len(applied())
    for doc in rendered:
        assert doc["metadata"]["namespace"] == "flyte", doc["metadata"]
        validate(doc)


# --------------------------------------------------------------------------
# Hangar's invariants


def pod_spec() -> dict:
    return one("Deployment", "hangar")["spec"]["template"]["spec"]


def hangar_container() -> dict:
    containers = {c["name"]: c for c in pod_spec()["containers"]}
    return containers["hangar"]


def container_port(name: str) -> int:
    ports = {p["name"]: p["containerPort"] for p in hangar_container()["ports"]}
    return ports[name]


def config_toml() -> str:
    return one("ConfigMap", "hangar-config")["data"]["hangar.toml"]


def env(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def mounts(container: dict) -> dict[str, dict]:
    return {m["mountPath"]: m for m in container.get("volumeMounts", [])}


def volumes() -> dict[str, dict]:
    return {v["name"]: v for v in pod_spec()["volumes"]}


def test_deployment_replicas_and_probes():
    deployment = one("Deployment", "hangar")
    assert deployment["spec"]["replicas"] == 2
    assert container_port("grpc") == 8000
    assert container_port("metrics") == 9090
    c = hangar_container()
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["grpc"]["port"] == container_port("grpc"), f"{probe} must hit the gRPC port"
        # Hangar reports the overall status under the empty service name.
        assert c[probe]["grpc"].get("service", "") == "", probe
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()


def test_every_container_is_locked_down():
    spec = pod_spec()
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert spec["automountServiceAccountToken"] is False
    for c in spec["containers"] + spec["initContainers"]:
        sc = c["securityContext"]
        assert sc["runAsNonRoot"] is True, c["name"]
        assert sc["readOnlyRootFilesystem"] is True, c["name"]
        assert sc["allowPrivilegeEscalation"] is False, c["name"]
        assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
        assert "add" not in sc["capabilities"], c["name"]
        assert sc["seccompProfile"]["type"] == "RuntimeDefault", c["name"]
        assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"], c["name"]
        assert c["resources"]["limits"]["memory"], c["name"]
        assert c["image"].split(":")[-1] not in ("", "latest") and ":" in c["image"], f"{c['name']}: pin the image tag"


def test_volumes_cache_plugins_config_and_secrets():
    c = hangar_container()
    m = mounts(c)
    vols = volumes()
    # The compile cache is a private emptyDir at the cache dir the server uses.
    cache_dir = env(c)["HANGAR_CACHE_DIR"]
    assert "emptyDir" in vols[m[cache_dir]["name"]], "compile cache must be an emptyDir"
    assert not m[cache_dir].get("readOnly", False)
    # Plugins: read-only for the server, filled by the fetch-plugins init container.
    assert m["/plugins"].get("readOnly") is True
    plugins_volume = m["/plugins"]["name"]
    assert "emptyDir" in vols[plugins_volume]
    init = {i["name"]: i for i in pod_spec()["initContainers"]}
    fetch = init["fetch-plugins"]
    assert fetch["args"][0] == "pull" and "/plugins" in fetch["args"], fetch["args"]
    assert mounts(fetch)["/plugins"]["name"] == plugins_volume
    # The init container runs `hangar check` on the same plugins and config.
    check = init["check-plugins"]
    assert check["image"] == c["image"]
    assert check["command"][1] == "check" and "/plugins" in check["command"]
    assert mounts(check) == m
    # --config points into the mounted ConfigMap.
    args = c["args"]
    config_path = Path(args[args.index("--config") + 1])
    config_mount = m[str(config_path.parent)]
    assert vols[config_mount["name"]]["configMap"]["name"] == "hangar-config"
    assert config_path.name in one("ConfigMap", "hangar-config")["data"]
    # The Secret is mounted where the config reads secrets from.
    secrets_dir = tomllib.loads(config_toml())["secrets"]["dir"]
    assert secrets_dir == "/etc/secrets"
    assert vols[m[secrets_dir]["name"]]["secret"]["secretName"] == one("Secret", "hangar-secrets")["metadata"]["name"]
    assert m[secrets_dir]["readOnly"] is True


def test_config_map_hangar_toml_is_a_valid_host_config(tmp_path):
    config = tomllib.loads(config_toml())
    assert set(config) >= {"limits", "secrets", "audit"}
    assert config["audit"]["destination"] == "stdout"
    path = tmp_path / "hangar.toml"
    path.write_text(config_toml())
    empty_plugins = tmp_path / "plugins"
    empty_plugins.mkdir()
    result = run_check(empty_plugins, path)
    assert result.returncode == 0, result.stdout + result.stderr
    # The only finding allowed: /etc/secrets does not exist on this machine.
    findings = [line for line in result.stdout.splitlines() if line.strip()]
    assert all("secrets.dir" in line and "warning" in line for line in findings), findings


def test_hangar_check_refuses_a_broken_config_map(tmp_path):
    """The check above can fail: a misspelt key in the ConfigMap is an error."""
    path = tmp_path / "hangar.toml"
    path.write_text(config_toml().replace("memory_mib", "memory_mb"))
    empty_plugins = tmp_path / "plugins"
    empty_plugins.mkdir()
    result = run_check(empty_plugins, path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "memory_mb" in result.stdout


def run_check(plugins: Path, config: Path) -> subprocess.CompletedProcess:
    binary = hangar_binary()
    if not binary.is_file():
        pytest.fail(f"hangar binary not found at {binary}: cargo build --release -p hangar", pytrace=False)
    result = subprocess.run(
        [str(binary), "check", str(plugins), "--config", str(config), "--no-cache"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    result.stdout = strip_ansi(result.stdout)
    return result


def test_the_server_starts_with_the_deployments_flags_and_config(start_server, tmp_path):
    """``hangar serve`` with the container's args (its --listen aside: tests
    use loopback) and the ConfigMap's hangar.toml reports SERVING on the
    health service the probes ask."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    config = tmp_path / "hangar.toml"
    config.write_text(config_toml())
    args = list(hangar_container()["args"])
    if "--listen" in args:
        i = args.index("--listen")
        assert args[i + 1] == f"0.0.0.0:{container_port('grpc')}"
        del args[i : i + 2]
    args[args.index("--config") + 1] = str(config)
    server = start_server(["echo", "wait", "echo-sync"], *args)
    health = health_pb2_grpc.HealthStub(server.channel)
    answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    server.assert_alive()


def test_service_reaches_the_grpc_and_metrics_ports():
    service = one("Service", "hangar")
    pod_labels = one("Deployment", "hangar")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    # Headless: DNS returns every ready pod, so gRPC round_robin spreads calls.
    assert service["spec"]["clusterIP"] == "None"
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert ports["grpc"]["port"] == 8000
    assert ports["grpc"]["appProtocol"] == "grpc"
    assert ports["metrics"]["port"] == 9090
    for name, port in ports.items():
        target = port["targetPort"]
        assert (container_port(target) if isinstance(target, str) else target) == port["port"], name


def test_hpa_and_pdb_target_the_deployment():
    hpa = one("HorizontalPodAutoscaler", "hangar")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "hangar"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    [metric] = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    assert hangar_container()["resources"]["requests"]["cpu"], "CPU utilisation needs a CPU request"
    pdb = one("PodDisruptionBudget", "hangar")
    pod_labels = one("Deployment", "hangar")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"], "the PDB must allow a drain"


# --------------------------------------------------------------------------
# Propeller


def propeller_snippet() -> dict:
    return yaml.safe_load(PROPELLER_SNIPPET.read_text())


def test_propeller_endpoint_is_the_service():
    connector = propeller_snippet()["plugins"]["connector-service"]
    endpoint = connector["defaultConnector"]["endpoint"]
    match = re.fullmatch(r"dns:///([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)", endpoint)
    assert match, endpoint
    service = one("Service", "hangar")
    ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert match.group(1) == service["metadata"]["name"]
    assert match.group(2) == kustomization()["namespace"] == service["metadata"]["namespace"]
    assert int(match.group(3)) == ports["grpc"]
    assert connector["defaultConnector"]["insecure"] is True  # Hangar serves no TLS yet
    assert "round_robin" in connector["defaultConnector"]["defaultServiceConfig"]


def test_propeller_routes_exactly_the_supported_task_types():
    snippet = propeller_snippet()
    connector = snippet["plugins"]["connector-service"]
    plugins = snippet["tasks"]["task-plugins"]
    assert "connector-service" in plugins["enabled-plugins"]
    routed = {t for t, p in plugins["default-for-task-types"].items() if p == "connector-service"}
    assert routed == set(connector["supportedTaskTypes"])
    # ... which are the task types the example plugins serve.
    served = {
        category["name"]
        for plugin in inspect_plugins()["plugins"]
        for category in plugin["agent"]["categories"]
    }
    assert routed == served


def inspect_plugins() -> dict:
    import json

    plugins = REPO_ROOT / "plugins"
    if not list(plugins.glob("*.wasm")):
        pytest.fail("plugins missing (build them with `bash build/guests.sh`)", pytrace=False)
    result = subprocess.run(
        [str(hangar_binary()), "inspect", str(plugins), "--json", "--no-cache"],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_propeller_snippet_matches_the_readme():
    readme = (REPO_ROOT / "README.md").read_text()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "connector-service:" in b]
    assert len(blocks) == 1, "README.md should have one propeller snippet"
    assert yaml.safe_load(blocks[0]) == propeller_snippet()


# --------------------------------------------------------------------------
# Dockerfile (parsed with BuildKit's own parser; not built: no Docker engine)


def docker_commands() -> list:
    return list(dockerfile.parse_file(str(DOCKERFILE)))


def test_dockerfile_is_multi_stage_and_non_root():
    commands = docker_commands()
    known = {"FROM", "RUN", "COPY", "ENV", "USER", "EXPOSE", "ENTRYPOINT", "WORKDIR", "LABEL", "ARG", "CMD"}
    assert {c.cmd for c in commands} <= known, {c.cmd for c in commands} - known
    stages = [c for c in commands if c.cmd == "FROM"]
    assert len(stages) == 2, [s.original for s in stages]
    assert stages[0].value[0] == "rust:1.95-bookworm" and stages[0].value[2] == "builder"
    assert stages[1].value[0].startswith(("gcr.io/distroless/cc-debian12", "debian:bookworm-slim"))
    runtime = commands[commands.index(stages[1]) :]
    builder = commands[: commands.index(stages[1])]
    runs = " ".join(" ".join(c.value) for c in builder if c.cmd == "RUN")
    assert "rustup target add wasm32-wasip2" in runs
    assert "cargo build --release" in runs and "build/guests.sh" in runs
    # The runtime stage holds only what the builder copied out.
    for c in runtime:
        if c.cmd == "COPY":
            assert any(f.startswith("--from=builder") for f in c.flags), c.original
        assert c.cmd != "RUN", f"no RUN in the runtime stage (distroless has no shell): {c.original}"
    [user] = [c for c in runtime if c.cmd == "USER"]
    uid = user.value[0].split(":")[0]
    assert uid not in ("0", "root"), user.original
    assert int(uid) == pod_spec()["securityContext"]["runAsUser"]
    [expose] = [c for c in runtime if c.cmd == "EXPOSE"]
    assert set(expose.value) == {str(container_port("grpc")), str(container_port("metrics"))}
    [entrypoint] = [c for c in runtime if c.cmd == "ENTRYPOINT"]
    assert entrypoint.json, "exec form, so signals reach hangar"
    assert list(entrypoint.value[1:]) == ["serve", "--plugins", "/plugins"]
    image_env = dict(zip(*[iter(v for c in runtime if c.cmd == "ENV" for v in c.value)] * 2))
    assert image_env["HANGAR_CACHE_DIR"] == env(hangar_container())["HANGAR_CACHE_DIR"]
    # The Deployment runs this entrypoint with flags only (no command override).
    assert "command" not in hangar_container()
