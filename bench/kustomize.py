"""`kustomize build` for exactly the kustomization features this project uses.

There is no kustomize binary on the build machines and no Python port that
runs here, so the tests render deploy/ with this. It supports what the
kustomization files use and refuses everything else by name, so a new
feature in a kustomization.yaml fails here instead of being silently
skipped:

- ``resources``: manifest files (multi-document YAML) and directories
  holding a kustomization of their own, rendered recursively;
- ``configMapGenerator``: ``name`` and ``files`` (``path`` or ``key=path``),
  one ConfigMap each with the files' text as ``data``;
- ``generatorOptions.disableNameSuffixHash: true``: the generated names stay
  as written (the hash suffix, and the name-reference rewriting it needs,
  are not implemented).

As kustomize does by default (LoadRestrictionsRootOnly), a generator may read
only files at or below its kustomization's directory, and two resources with
the same kind, namespace and name are an error. The output is the same set of
objects kustomize builds; kustomize orders them by kind, this keeps the
order of the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
KNOWN_FIELDS = {"apiVersion", "kind", "resources", "configMapGenerator", "generatorOptions"}
API_VERSION = "kustomize.config.k8s.io/v1beta1"


class KustomizeError(ValueError):
    """A kustomization this renderer cannot build (or kustomize would refuse)."""


def kustomization_file(directory: Path) -> Path:
    for name in KUSTOMIZATION_NAMES:
        if (directory / name).is_file():
            return directory / name
    raise KustomizeError(f"{directory}: no kustomization.yaml")


def load_kustomization(directory: Path) -> dict[str, Any]:
    path = kustomization_file(directory)
    data = yaml.safe_load(path.read_text()) or {}
    unknown = sorted(set(data) - KNOWN_FIELDS)
    if unknown:
        raise KustomizeError(f"{path}: fields not supported here: {', '.join(unknown)}")
    if data.get("apiVersion", API_VERSION) != API_VERSION or data.get("kind") != "Kustomization":
        raise KustomizeError(f"{path}: not a {API_VERSION} Kustomization")
    options = data.get("generatorOptions", {})
    if data.get("configMapGenerator") and options != {"disableNameSuffixHash": True}:
        raise KustomizeError(
            f"{path}: generatorOptions must be exactly disableNameSuffixHash: true "
            "(name hashes and the references they rewrite are not implemented)"
        )
    return data


def inside(root: Path, relative: str, what: str) -> Path:
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise KustomizeError(
            f"{what} {relative!r} is not in or below {root} (kustomize's load restrictor)"
        )
    return path


def config_map(root: Path, generator: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(generator) - {"name", "files"})
    if unknown:
        raise KustomizeError(f"configMapGenerator {generator.get('name')}: {', '.join(unknown)}")
    data: dict[str, str] = {}
    for entry in generator["files"]:
        key, sep, relative = str(entry).partition("=")
        if not sep:
            key, relative = Path(entry).name, entry
        path = inside(root, relative, "file")
        if key in data:
            raise KustomizeError(f"configMapGenerator {generator['name']}: key {key!r} twice")
        data[key] = path.read_text()
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": generator["name"]},
        "data": data,
    }


def resource_id(document: dict[str, Any]) -> tuple[str, str, str]:
    metadata = document.get("metadata", {})
    return (document["kind"], metadata.get("namespace", ""), metadata["name"])


def build(directory: Path) -> list[dict[str, Any]]:
    """The objects `kustomize build DIRECTORY` would output."""
    root = directory.resolve()
    kustomization = load_kustomization(root)
    documents: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = (root / entry).resolve()
        if path.is_dir():
            documents.extend(build(path))
        else:
            path = inside(root, entry, "resource")
            documents.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    for generator in kustomization.get("configMapGenerator", []):
        documents.append(config_map(root, generator))
    seen: set[tuple[str, str, str]] = set()
    for document in documents:
        identity = resource_id(document)
        if identity in seen:
            raise KustomizeError(f"{directory}: resource {identity} defined twice")
        seen.add(identity)
    return documents
