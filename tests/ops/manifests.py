"""Reading ops/kubernetes as kustomize would render it, without kustomize.

`render(folder)` reads a kustomization's resources (files and folders of other kustomizations), applies
its patches and its `images:` overrides, and returns the objects. Patches are merged the way kustomize
merges them, for the subset the variants use: a built-in kind gets a strategic merge (maps merge; the
lists below merge item by item on their key; every other list is replaced), a custom resource a JSON
merge patch (maps merge, lists are replaced). Where `kubectl` is installed, tests/ops checks that its
`kubectl kustomize` renders the same objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.paths import REPO_ROOT

__all__ = ["BASE", "KUBERNETES", "VARIANTS", "Objects", "env_value", "load_yaml", "render"]

KUBERNETES = REPO_ROOT / "ops" / "kubernetes"
BASE = KUBERNETES / "base"
VARIANTS = sorted(path.parent for path in (KUBERNETES / "variants").glob("*/kustomization.yaml"))

# Strategic-merge keys of the core lists the patches touch (the patchMergeKey of the Kubernetes API).
_MERGE_KEYS = {"containers": "name", "initContainers": "name", "volumes": "name", "env": "name",
               "volumeMounts": "mountPath", "ports": "containerPort"}


def load_yaml(path: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document of a file."""
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def render(folder: Path) -> list[dict[str, Any]]:
    """The objects of the kustomization in `folder`, patched."""
    (spec,) = load_yaml(folder / "kustomization.yaml")
    objects: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = (folder / entry).resolve()
        objects += render(path) if path.is_dir() else load_yaml(path)
    for patch in spec.get("patches", []):
        for change in load_yaml(folder / patch["path"]):
            index = _find(objects, change)
            objects[index] = _merge(objects[index], change, strategic=_is_builtin(change))
    for image in spec.get("images", []):
        _set_image(objects, image)
    return objects


class Objects:
    """A rendered set of objects, looked up by kind (and name)."""

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.all = objects

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        """Every object of `kind`."""
        return [obj for obj in self.all if obj["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        """The one object of `kind` (named `name`, when given)."""
        found = [obj for obj in self.of_kind(kind) if name is None or obj["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
        return found[0]

    @property
    def container(self) -> dict[str, Any]:
        """The Deployment's `asr` container."""
        containers = self.one("Deployment")["spec"]["template"]["spec"]["containers"]
        (container,) = [c for c in containers if c["name"] == "asr"]
        return dict(container)


def env_value(container: dict[str, Any], name: str) -> str | None:
    """An env var's value with `$(VAR)` references expanded as the kubelet does (earlier vars only;
    a fieldRef to metadata.name stands for a pod name)."""
    known: dict[str, str] = {}
    for var in container.get("env", []):
        if "value" in var:
            value = str(var["value"])
            for ref, resolved in known.items():
                value = value.replace(f"$({ref})", resolved)
        elif var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
            value = "asr-5d8c9b7f4-x2k7q"
        else:
            continue
        known[var["name"]] = value
    return known.get(name)


def _is_builtin(obj: dict[str, Any]) -> bool:
    group = obj["apiVersion"].rpartition("/")[0]
    return group in ("", "apps", "policy", "autoscaling", "networking.k8s.io", "batch") or group.endswith(".k8s.io")


def _find(objects: list[dict[str, Any]], change: dict[str, Any]) -> int:
    for index, obj in enumerate(objects):
        if (obj["apiVersion"], obj["kind"], obj["metadata"]["name"]) == (
                change["apiVersion"], change["kind"], change["metadata"]["name"]):
            return index
    raise AssertionError(f"patch for {change['kind']}/{change['metadata']['name']}: no such object")


def _merge(base: Any, patch: Any, *, strategic: bool, key: str | None = None) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for name, value in patch.items():
            merged[name] = _merge(base[name], value, strategic=strategic, key=name) if name in base else value
        return merged
    merge_key = _MERGE_KEYS.get(key or "") if strategic else None
    if isinstance(base, list) and isinstance(patch, list) and merge_key is not None:
        by_key = {item[merge_key]: item for item in patch}
        merged_list = [_merge(item, by_key.pop(item[merge_key]), strategic=True) if item[merge_key] in by_key
                       else item for item in base]
        return merged_list + list(by_key.values())
    return patch


def _set_image(objects: list[dict[str, Any]], image: dict[str, str]) -> None:
    for obj in objects:
        for container in obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            name, _, _ = container["image"].partition(":")
            if name == image["name"]:
                container["image"] = f"{image.get('newName', name)}:{image['newTag']}"
