"""bench/kustomize.py: the kustomization features the project uses, and refusals of the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.kustomize import KustomizeError, build

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
---
apiVersion: v1
kind: Service
metadata:
  name: web
"""
HEADER = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
NO_HASH = "generatorOptions:\n  disableNameSuffixHash: true\n"


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_resources_files_and_nested_kustomizations_and_generated_configmaps(
    tmp_path: Path,
) -> None:
    root = tree(
        tmp_path,
        {
            "kustomization.yaml": HEADER + NO_HASH + "resources:\n  - base\n"
            "configMapGenerator:\n  - name: settings\n    files:\n"
            "      - conf/app.yml\n      - lib.x.js=code/lib/x.js\n",
            "base/kustomization.yaml": HEADER + "resources:\n  - web.yaml\n",
            "base/web.yaml": DEPLOYMENT,
            "conf/app.yml": "a: 1\n",
            "code/lib/x.js": "export const x = 1;\n",
        },
    )
    objects = build(root)
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("Deployment", "web"),
        ("Service", "web"),
        ("ConfigMap", "settings"),
    ]
    assert objects[2]["data"] == {"app.yml": "a: 1\n", "lib.x.js": "export const x = 1;\n"}


@pytest.mark.parametrize(
    ("files", "message"),
    [
        # kustomize's default load restrictor: generators read only at or below the root.
        (
            {"app/kustomization.yaml": HEADER + NO_HASH
             + "configMapGenerator:\n  - name: c\n    files: [../outside.yml]\n",
             "outside.yml": "x: 1\n"},
            "is not in or below",
        ),
        ({"app/kustomization.yaml": HEADER + "namePrefix: x-\n"}, "not supported here: namePrefix"),
        (
            {"app/kustomization.yaml": HEADER
             + "configMapGenerator:\n  - name: c\n    files: [a.yml]\n", "app/a.yml": "a\n"},
            "disableNameSuffixHash",
        ),
        (
            {"app/kustomization.yaml": HEADER + NO_HASH
             + "configMapGenerator:\n  - name: c\n    literals: [a=b]\n"},
            "literals",
        ),
        (
            {"app/kustomization.yaml": HEADER + "resources: [a.yaml, b.yaml]\n",
             "app/a.yaml": DEPLOYMENT, "app/b.yaml": DEPLOYMENT},
            "defined twice",
        ),
        ({"app/other.yaml": "x: 1\n"}, "no kustomization.yaml"),
        ({"app/kustomization.yaml": "kind: Component\n"}, "not a kustomize.config.k8s.io"),
    ],
)  # fmt: skip
def test_what_it_cannot_build_is_refused_by_name(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    tree(tmp_path, files)
    with pytest.raises(KustomizeError, match=message):
        build(tmp_path / "app")
