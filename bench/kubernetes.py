"""The Kubernetes manifests under deploy/kubernetes/, as far as they follow the registries.

`bench kubernetes` writes the parts that must track the project's own lists,
so that none of them is a hand-kept copy (docs/kubernetes.md):

- deploy/kubernetes/rows.yaml: a Deployment and a Service per row of
  services/rows.py, from the one project image, each row's knobs at .env's
  defaults, the same environment as its compose service.
- deploy/kubernetes/testruns/<scenario>.yaml: a k6-operator TestRun per
  scenario of bench/loadtest/scenarios.py, with the tags, system tags and
  remote-write settings `bench loadtest` uses.
- kustomization.yaml at the repository root: ConfigMaps generated from the
  prometheus/, grafana/ and loadtests/ files themselves (kustomize may only
  read files at or below its kustomization, hence the root).

The infrastructure (latency service, PostgreSQL, Prometheus, Grafana) is
plain YAML in deploy/kubernetes/. Tests check the checked-in files equal this
output, the way the dashboard JSON is checked.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

from bench.atomic import write_text_atomically
from bench.k6 import PINNED_K6_VERSION
from bench.loadtest.runner import SYSTEM_TAGS, remote_write_env
from bench.loadtest.scenarios import Scenario, endpoint_for, k6_only_scenarios
from bench.paths import GRAFANA_DIR, LOADTESTS_DIR, PROMETHEUS_DIR, REPO_ROOT
from bench.stack.knobs import read_dotenv, row_bench_env
from services.rows import LATENCY_SERVICE_PORT, ROWS, Row, get_row

DEPLOY_DIR = REPO_ROOT / "deploy" / "kubernetes"
ROWS_MANIFEST = DEPLOY_DIR / "rows.yaml"
TESTRUNS_DIR = DEPLOY_DIR / "testruns"
ROOT_KUSTOMIZATION = REPO_ROOT / "kustomization.yaml"

PROJECT_IMAGE = "sync-async-bench:local"  # docker-compose.yml's; retag for a registry
K6_IMAGE = f"grafana/k6:{PINNED_K6_VERSION}"
PART_OF = {"app.kubernetes.io/part-of": "sync-async-bench"}
# The image's user (Dockerfile: USER 10001:10001).
IMAGE_UID = 10001
DATABASE_URL = "postgresql://bench:bench@postgres:5432/bench"
PROMETHEUS_URL = "http://prometheus:9090"
# Where the TestRuns' k6 finds the scripts: the k6-scripts ConfigMap, laid
# out as loadtests/ is (lib/ a directory), mounted by runner and initializer.
SCRIPTS_MOUNT = "/loadtests"
SCRIPTS_CONFIGMAP = "k6-scripts"
LIB_KEY_PREFIX = "lib."  # ConfigMap keys cannot hold '/': lib/config.js is key lib.config.js
# Every scenario's TestRun targets this row, the seed demo its seed row.
TESTRUN_TARGET = "fastapi-async"
SEED_TARGET = "flask-sync"
SEED_SCENARIO = "three-users"
# k6-operator runners per scenario: the seed demo stays one k6 (three users).
DEFAULT_PARALLELISM = 2

# ConfigMaps generated from the project's own files (name -> directory, glob).
CONFIGMAP_SOURCES: tuple[tuple[str, Path, str], ...] = (
    ("prometheus-config", PROMETHEUS_DIR, "prometheus.yml"),
    ("prometheus-rules", PROMETHEUS_DIR / "rules", "*.yml"),
    ("grafana-datasources", GRAFANA_DIR / "provisioning" / "datasources", "*.yml"),
    ("grafana-dashboard-providers", GRAFANA_DIR / "provisioning" / "dashboards", "*.yml"),
    ("grafana-dashboards", GRAFANA_DIR / "dashboards", "*.json"),
)


def labels(name: str, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": component, **PART_OF}


def env_list(env: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": key, "value": value} for key, value in env.items()]


def row_environment(row: Row) -> dict[str, str]:
    """What docker-compose.yml gives the row (x-row-env, its port, its knobs at .env's values)."""
    return {
        "BENCH_HOST": "0.0.0.0",
        "BENCH_LATENCY_URL": f"http://latency:{LATENCY_SERVICE_PORT}",
        "BENCH_INSTRUMENTATION": "on",
        "BENCH_DATABASE_URL": DATABASE_URL,
        "BENCH_PORT": str(row.port),
        **row_bench_env(row, read_dotenv()),
    }


def row_deployment(row: Row) -> dict[str, Any]:
    selector = {"app.kubernetes.io/name": row.name}
    container = {
        "name": row.name,
        "image": PROJECT_IMAGE,
        "args": ["sab-serve", row.name],
        "env": env_list(row_environment(row)),
        "ports": [
            {"name": "http", "containerPort": row.port},
            {"name": "metrics", "containerPort": row.metrics_port},
        ],
        # Only at start: under load a sync row's /health waits in the same
        # queue as every request (the behaviour under study), and a failing
        # readiness or liveness probe would take the row out mid-run.
        "startupProbe": {
            "httpGet": {"path": "/health", "port": "http"},
            "periodSeconds": 2,
            "failureThreshold": 30,
        },
        "securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False},
        # prometheus-client's multiprocess directory lives in /tmp.
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - a pod's own emptyDir
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": row.name, "labels": labels(row.name, "row")},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels(row.name, "row")},
                "spec": {
                    "securityContext": {"runAsNonRoot": True, "runAsUser": IMAGE_UID},
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory"}}],
                },
            },
        },
    }


def row_service(row: Row) -> dict[str, Any]:
    """Named as the compose service, so prometheus.yml's targets (flask-sync:9001) resolve."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": row.name, "labels": labels(row.name, "row")},
        "spec": {
            "selector": {"app.kubernetes.io/name": row.name},
            "ports": [
                {"name": "http", "port": row.port, "targetPort": "http"},
                {"name": "metrics", "port": row.metrics_port, "targetPort": "metrics"},
            ],
        },
    }


def dump_all(documents: list[dict[str, Any]], header: str) -> str:
    body = yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False, width=200)
    return header + body


GENERATED = "# Generated by `bench kubernetes` from {source}: do not edit, regenerate.\n"


def render_rows() -> str:
    documents = [doc for row in ROWS for doc in (row_deployment(row), row_service(row))]
    return dump_all(documents, GENERATED.format(source="services/rows.py and .env"))


def script_items() -> list[dict[str, str]]:
    """The k6-scripts ConfigMap's keys, laid out as loadtests/ (lib/ as a directory)."""
    return [{"key": key, "path": path} for key, path in script_files()]


def script_files() -> list[tuple[str, str]]:
    """(ConfigMap key, path below loadtests/) of every scenario script and its library."""
    scripts = [(f"{s.name}.js", f"{s.name}.js") for s in k6_only_scenarios()]
    library = [
        (f"{LIB_KEY_PREFIX}{path.name}", f"lib/{path.name}")
        for path in sorted((LOADTESTS_DIR / "lib").glob("*.js"))
    ]
    return scripts + library


def testrun_target(scenario: Scenario) -> tuple[Row, str]:
    row = get_row(SEED_TARGET if scenario.name == SEED_SCENARIO else TESTRUN_TARGET)
    endpoint = endpoint_for(row, scenario, None)
    assert endpoint is not None, f"{row.name} does not serve {scenario.name}'s endpoint"
    return row, endpoint


def testrun_tags(scenario: Scenario, row: Row) -> dict[str, str]:
    """`bench loadtest`'s tags; k6-operator adds instance_id (1..parallelism) itself."""
    return {"testid": f"k8s-{scenario.name}", "service": row.name, "scenario_name": scenario.name}


def testrun(scenario: Scenario) -> dict[str, Any]:
    row, endpoint = testrun_target(scenario)
    tags = " ".join(f"--tag {key}={value}" for key, value in testrun_tags(scenario, row).items())
    env = {
        "K6_NO_USAGE_REPORT": "true",
        **remote_write_env(PROMETHEUS_URL),
        # k6 reads its environment as __ENV: the script's target.
        "BASE_URL": f"http://{row.name}:{row.port}",
        "ENDPOINT": endpoint,
        "SERVICE": row.name,
    }
    volumes = [
        {
            "name": "loadtests",
            "configMap": {"name": SCRIPTS_CONFIGMAP, "items": script_items()},
        }
    ]
    mounts = [{"name": "loadtests", "mountPath": SCRIPTS_MOUNT, "readOnly": True}]

    def pod() -> dict[str, Any]:
        # Fresh objects each time: shared ones would come out as YAML anchors.
        return {
            "image": K6_IMAGE,
            "volumes": copy.deepcopy(volumes),
            "volumeMounts": copy.deepcopy(mounts),
        }

    return {
        "apiVersion": "k6.io/v1alpha1",
        "kind": "TestRun",
        "metadata": {"name": f"sab-{scenario.name}", "labels": labels(scenario.name, "loadtest")},
        "spec": {
            "parallelism": 1 if scenario.name == SEED_SCENARIO else DEFAULT_PARALLELISM,
            "script": {"localFile": f"{SCRIPTS_MOUNT}/{scenario.name}.js"},
            "arguments": f"--system-tags={SYSTEM_TAGS} {tags} -o experimental-prometheus-rw",
            "runner": {**pod(), "env": env_list(env)},
            # The initializer runs `k6 inspect` on the same script: same image and files.
            "initializer": pod(),
        },
    }


def render_testrun(scenario: Scenario) -> str:
    header = GENERATED.format(source="bench/loadtest/scenarios.py") + (
        f"# {scenario.name}: {scenario.summary}. Apply it (after `kubectl apply -k .`) to run\n"
        "# it once; delete it to run it again (docs/kubernetes.md).\n"
    )
    return dump_all([testrun(scenario)], header)


def configmap_files(directory: Path, pattern: str) -> list[str]:
    return [str(path.relative_to(REPO_ROOT)) for path in sorted(directory.glob(pattern))]


def kustomization() -> dict[str, Any]:
    generators: list[dict[str, Any]] = [
        {"name": name, "files": configmap_files(directory, pattern)}
        for name, directory, pattern in CONFIGMAP_SOURCES
    ]
    generators.append(
        {
            "name": SCRIPTS_CONFIGMAP,
            "files": [f"{key}=loadtests/{path}" for key, path in script_files()],
        }
    )
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [str(DEPLOY_DIR.relative_to(REPO_ROOT))],
        # Fixed names: the Deployments mount them by name (restart a pod to
        # pick up a changed file: `kubectl rollout restart deployment/prometheus`).
        "generatorOptions": {"disableNameSuffixHash": True},
        "configMapGenerator": generators,
    }


def render_kustomization() -> str:
    header = GENERATED.format(source="bench/kubernetes.py") + (
        "# The lab on Kubernetes: `kubectl apply -k .` from the repository root\n"
        "# (docs/kubernetes.md). ConfigMaps come from the project's own files.\n"
    )
    return header + yaml.safe_dump(kustomization(), sort_keys=False, width=100)


def rendered_files() -> dict[Path, str]:
    files = {ROWS_MANIFEST: render_rows(), ROOT_KUSTOMIZATION: render_kustomization()}
    for scenario in k6_only_scenarios():
        files[TESTRUNS_DIR / f"{scenario.name}.yaml"] = render_testrun(scenario)
    return files


def stale_files() -> list[Path]:
    return [
        path
        for path, text in rendered_files().items()
        if not path.is_file() or path.read_text() != text
    ]


def run(args: argparse.Namespace) -> int:
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"{path} is out of date: run `bench kubernetes` and commit it", file=sys.stderr)
        if not stale:
            print("the generated Kubernetes manifests are up to date")
        return 1 if stale else 0
    for path, text in rendered_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(path, text)
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "kubernetes",
        help="regenerate deploy/kubernetes/ rows, TestRuns and the root kustomization.yaml",
        description="Write the Kubernetes manifests that follow the registries "
        "(docs/kubernetes.md).",
    )
    parser.add_argument(
        "--check", action="store_true", help="only check that the checked-in files are current"
    )
    parser.set_defaults(handler=run)
