"""ops/kubernetes: every object validates against its schema, and the files agree with each other and the server.

Built-in kinds are validated with kubernetes-validate's strict schemas (unknown fields refused) for the
oldest Kubernetes version the manifests claim and the newest the package ships. The ServiceMonitor, a
custom resource, is validated against tests/ops/schemas/servicemonitor-monitoring-v1.json, the part of
prometheus-operator's CRD that the manifests use. Nothing here needs a cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from asr_service.config import ServerConfig, load_config
from asr_service.monitoring import Monitor
from tests.ops.manifests import BASE, KUBERNETES, VARIANTS, Objects, env_value, load_yaml, render

SCHEMAS = Path(__file__).parent / "schemas"
CRD_SCHEMAS = {("monitoring.coreos.com/v1", "ServiceMonitor"): SCHEMAS / "servicemonitor-monitoring-v1.json"}
# The oldest Kubernetes the manifests are for (the preStop `sleep` action is on by default from 1.30),
# except variants/tls: its probes' `grpc.mode` first appears in the 1.37 API.
MIN_VERSION = {"tls": "1.37"}
DEFAULT_MIN_VERSION = "1.30"
TREES = [BASE, *VARIANTS]
TREE_IDS = [path.name for path in TREES]


def kubernetes_validate() -> Any:
    return pytest.importorskip(
        "kubernetes_validate",
        reason="needs kubernetes-validate (pip install kubernetes-validate; the dev extra lists it)")


def versions(tree: Path) -> list[str]:
    """The Kubernetes versions a tree is validated for: its minimum and the newest schemas shipped."""
    return sorted({MIN_VERSION.get(tree.name, DEFAULT_MIN_VERSION), kubernetes_validate().latest_version()})


def server_toml(objects: Objects) -> dict[str, Any]:
    return tomllib.loads(objects.one("ConfigMap", "asr-config")["data"]["asr.toml"])


def named_port(container: dict[str, Any], name: str) -> int:
    (port,) = [p["containerPort"] for p in container["ports"] if p["name"] == name]
    return int(port)


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


@pytest.mark.parametrize("tree", TREES, ids=TREE_IDS)
def test_every_object_validates_against_its_schema(tree: Path) -> None:
    validator = kubernetes_validate()
    objects = render(tree)
    assert objects
    for version in versions(tree):
        for obj in objects:
            what = f"{tree.name}: {obj['kind']}/{obj['metadata']['name']} against Kubernetes {version}"
            schema_path = CRD_SCHEMAS.get((obj["apiVersion"], obj["kind"]))
            if schema_path is not None:
                import jsonschema

                schema = json.loads(schema_path.read_text(encoding="utf-8"))
                errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(obj)]
                assert not errors, f"{what}: {errors}"
                continue
            try:
                validator.validate(obj, version, strict=True)
            except validator.ValidationError as exc:
                path = ".".join(str(part) for part in exc.path)
                pytest.fail(f"{what}: {path}: {exc.message}")
            except validator.SchemaNotFoundError as exc:
                pytest.fail(f"{what}: {exc.message}: a custom resource needs a schema in CRD_SCHEMAS")


def test_the_validators_refuse_a_bad_object() -> None:
    """The checks above can fail: a typo in a probe and a ServiceMonitor without endpoints are refused."""
    validator = kubernetes_validate()
    deployment = Objects(render(BASE)).one("Deployment")
    bad = json.loads(json.dumps(deployment))
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpc"]["prot"] = 50051
    with pytest.raises(validator.ValidationError):
        validator.validate(bad, DEFAULT_MIN_VERSION, strict=True)
    tls_probe = json.loads(json.dumps(deployment))
    tls_probe["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpc"]["mode"] = "TLS"
    with pytest.raises(validator.ValidationError):  # why variants/tls is validated from 1.37 only
        validator.validate(tls_probe, "1.36", strict=True)
    import jsonschema

    monitor = json.loads(json.dumps(Objects(render(BASE)).one("ServiceMonitor")))
    del monitor["spec"]["endpoints"]
    schema = json.loads(CRD_SCHEMAS[("monitoring.coreos.com/v1", "ServiceMonitor")].read_text(encoding="utf-8"))
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(monitor))


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl (its built-in kustomize)")
@pytest.mark.parametrize("tree", TREES, ids=TREE_IDS)
def test_kubectl_kustomize_renders_the_same_objects(tree: Path) -> None:
    done = subprocess.run(["kubectl", "kustomize", str(tree)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr

    def canonical(obj: Any) -> Any:  # list order aside (kustomize puts a patch's new items first)
        if isinstance(obj, dict):
            return {key: canonical(value) for key, value in obj.items()}
        if isinstance(obj, list):
            return sorted((canonical(item) for item in obj), key=lambda item: json.dumps(item, sort_keys=True))
        return obj

    theirs = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    assert canonical(theirs) == canonical(render(tree))


@pytest.mark.parametrize("tree", TREES, ids=TREE_IDS)
def test_ports_agree_from_config_to_probes_services_and_scrapes(tree: Path) -> None:
    objects = Objects(render(tree))
    server = server_toml(objects)["server"]
    container = objects.container
    grpc_port, http_port = named_port(container, "grpc"), named_port(container, "http-metrics")
    assert (server["port"], server["http_port"]) == (grpc_port, http_port)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == grpc_port, probe
    for service in objects.of_kind("Service"):
        for port in service["spec"]["ports"]:
            assert named_port(container, port["targetPort"]) == port["port"], (service["metadata"]["name"], port)
        assert "grpc" in {port["name"] for port in service["spec"]["ports"]}
    monitor = objects.one("ServiceMonitor")
    scraped = [s for s in objects.of_kind("Service")
               if matches(monitor["spec"]["selector"]["matchLabels"], s["metadata"].get("labels", {}))]
    assert [s["metadata"]["name"] for s in scraped] == ["asr"]  # not the headless one too: no double scrape
    for endpoint in monitor["spec"]["endpoints"]:
        (port,) = [p for p in scraped[0]["spec"]["ports"] if p["name"] == endpoint["port"]]
        assert named_port(container, port["targetPort"]) == http_port
        assert endpoint["path"] == "/metrics"
        # the operator refuses a scrape timeout longer than the interval
        assert _seconds(endpoint["scrapeTimeout"]) <= _seconds(endpoint["interval"])
    headless = objects.one("Service", "asr-headless")
    assert headless["spec"]["clusterIP"] == "None"


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in ("ms", "s", "m", "h"):
        if duration.endswith(unit):
            return float(duration[: -len(unit)]) * units[unit]
    raise AssertionError(f"unexpected duration {duration!r}")


def test_grace_period_covers_the_prestop_sleep_the_notice_and_the_drain() -> None:
    objects = Objects(render(BASE))
    server = server_toml(objects)["server"]
    pod = objects.one("Deployment")["spec"]["template"]["spec"]
    pre_stop_s = objects.container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pre_stop_s > 0
    # the file states the two settings the grace period is computed from, and they are the server's own
    defaults = ServerConfig()
    assert (server["shutdown_notice_s"], server["drain_timeout_s"]) == (
        defaults.shutdown_notice_s, defaults.drain_timeout_s)
    needed_s = pre_stop_s + server["shutdown_notice_s"] + server["drain_timeout_s"]
    assert pod["terminationGracePeriodSeconds"] > needed_s


def test_selectors_match_the_pods_and_the_hpa_targets_the_deployment() -> None:
    objects = Objects(render(BASE))
    deployment = objects.one("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert matches(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    pdb = objects.one("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    for service in objects.of_kind("Service"):
        assert matches(service["spec"]["selector"], pod_labels), service["metadata"]["name"]
    hpa = objects.one("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": deployment["apiVersion"], "kind": "Deployment",
                                             "name": deployment["metadata"]["name"]}
    # a voluntary disruption always leaves a pod serving
    assert hpa["spec"]["minReplicas"] > pdb["spec"]["maxUnavailable"]
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


@pytest.mark.parametrize("tree", TREES, ids=TREE_IDS)
def test_the_configmap_and_env_make_a_valid_server_config(tree: Path, tmp_path: Path) -> None:
    """The server's own loader accepts the ConfigMap's TOML under the Deployment's environment, and
    the engine's threads fit the pod's CPU limit (the engine would size them from the node's cores)."""
    objects = Objects(render(tree))
    container = objects.container
    config_file = tmp_path / "asr.toml"
    config_file.write_text(objects.one("ConfigMap", "asr-config")["data"]["asr.toml"], encoding="utf-8")
    assert container["args"] == ["--config", _mount_path(container, "config") + "/asr.toml"]
    env = {var["name"]: env_value(container, var["name"]) for var in container["env"]}
    env = {name: value for name, value in env.items() if name.startswith("ASR_") and value is not None}
    tls_mount = _mount_path(container, "tls") if "ASR_TLS_CERT_FILE" in env else None
    if tls_mount is not None:  # the certificate files come from the Secret: stand-ins at the same names
        for name in ("ASR_TLS_CERT_FILE", "ASR_TLS_KEY_FILE"):
            assert env[name].startswith(tls_mount + "/"), name
            stand_in = tmp_path / Path(env[name]).name
            stand_in.write_text("stand-in", encoding="utf-8")
            env[name] = str(stand_in)
    if "ASR_ENGINE_MODEL" in env:  # a directory on the models volume: checked in its own test
        env.pop("ASR_ENGINE_MODEL")
    limit = cores(container["resources"]["limits"]["cpu"])
    if (os.cpu_count() or 1) < limit:
        pytest.skip(f"the engine checks its threads against this machine's cores ({os.cpu_count()} < {limit:g})")
    config = load_config(config_file, env=env)
    assert config.host == "0.0.0.0"
    assert (config.tls is not None) == (tls_mount is not None)
    assert config.allow_plaintext_remote == (tls_mount is None)
    engine = config.engine
    assert engine.num_workers * engine.threads_per_worker <= limit
    assert engine.threads_when_alone <= limit
    # the request log: one folder per pod, on the claimed volume
    log_dir = config.request_log.dir
    assert log_dir is not None and log_dir.endswith("/asr-5d8c9b7f4-x2k7q")
    assert Path(log_dir).parent.as_posix() == _mount_path(container, "request-log")


def _mount_path(container: dict[str, Any], volume: str) -> str:
    (path,) = [m["mountPath"] for m in container["volumeMounts"] if m["name"] == volume]
    return str(path)


def test_the_request_log_volume_takes_one_folder_per_pod() -> None:
    objects = Objects(render(BASE))
    pod = objects.one("Deployment")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "request-log"]
    claim = objects.one("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    # pods on several nodes write at once: a ReadWriteOnce volume would attach to one node only
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    raw = {var["name"]: var.get("value") for var in objects.container["env"]}
    assert "$(POD_NAME)" in str(raw["ASR_REQUEST_LOG_DIR"])
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]


def test_resources_are_guaranteed_and_the_filesystem_read_only() -> None:
    objects = Objects(render(BASE))
    container = objects.container
    resources = container["resources"]
    assert resources["requests"] == resources["limits"]  # Guaranteed QoS: whole cores, as benchmarked
    assert cores(resources["limits"]["cpu"]).is_integer()
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert _mount_path(container, "tmp") == "/tmp"


def test_the_model_volume_variant_mounts_a_model_directory_read_only() -> None:
    objects = Objects(render(KUBERNETES / "variants" / "model-volume"))
    container = objects.container
    model = env_value(container, "ASR_ENGINE_MODEL")
    assert model is not None and model != "tiny.en"
    (mount,) = [m for m in container["volumeMounts"] if model.startswith(m["mountPath"] + "/")]
    assert mount["readOnly"] is True
    pod = objects.one("Deployment")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["persistentVolumeClaim"]["readOnly"] is True
    claim = objects.one("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    assert claim["spec"]["accessModes"] == ["ReadOnlyMany"]


def test_the_load_metric_hpa_reads_what_the_adapter_rule_serves_and_the_server_exports() -> None:
    variant = KUBERNETES / "variants" / "load-metric"
    hpa = Objects(render(variant)).one("HorizontalPodAutoscaler")
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Pods"
    name = metric["pods"]["metric"]["name"]
    (adapter,) = load_yaml(variant / "prometheus-adapter-rules.yaml")
    (rule,) = [r for r in adapter["rules"] if r["name"]["as"] == name]
    assert rule["seriesQuery"].startswith(name + "{")
    assert {key: value["resource"] for key, value in rule["resources"]["overrides"].items()} == {
        "namespace": "namespace", "pod": "pod"}
    for placeholder in ("<<.Series>>", "<<.LabelMatchers>>", "<<.GroupBy>>"):
        assert placeholder in rule["metricsQuery"]
    exported = {family.name for family in Monitor(ServerConfig()).registry.collect()}
    assert name in exported
    # the same target as the CPU HPA: 45 % of the CPU request is 0.45 of the cores
    base_hpa = Objects(render(BASE)).one("HorizontalPodAutoscaler")
    (cpu,) = base_hpa["spec"]["metrics"]
    assert cores(metric["pods"]["target"]["averageValue"]) == cpu["resource"]["target"]["averageUtilization"] / 100
