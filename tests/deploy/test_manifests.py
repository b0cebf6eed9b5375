"""Container, compose and Kubernetes files: validated with the tools available here."""

import re
import subprocess
from pathlib import Path

import yaml

from tests.deploy.test_ops_alerting import tool

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"


def test_compose_file_is_valid_for_docker_compose():
    done = subprocess.run(
        [tool("docker-compose"), "-f", "docker-compose.yml", "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_compose_has_the_stack_and_explicit_partitions():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {
        "kafka",
        "topic-init",
        "worker",
        "demo-producer",
        "prometheus",
        "alertmanager",
        "grafana",
        "webhook-receiver",
        "postgres",
        "console",
    } <= set(services)
    assert services["postgres"]["image"].startswith("postgres:15")
    assert "console" in services["console"]["command"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["demo-producer"]["profiles"] == ["demo"]
    init = services["topic-init"]["command"][0]
    for topic in (
        "turnwatch.turns",
        "turnwatch.alerts",
        "turnwatch.turns.dlq",
        "turnwatch.deliveries.retry",
        "turnwatch.deliveries.dlq",
        "turnwatch.verdicts",
    ):
        assert re.search(rf"create {re.escape(topic)} 12\b", init), topic


def test_dockerfile_is_multistage_non_root_pinned_with_a_healthcheck():
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert len(stages) >= 2 and all(re.search(r":\d+\.\d+\.\d+", s) for s in stages)
    assert re.search(r"^USER 10001", text, re.MULTILINE)
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert "torch==2.13.0" in text and "backend='onnx'" in text


def load_all():
    docs = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] != "Kustomization":
                docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


def test_kubernetes_manifests_fit_together():
    docs = load_all()
    deployment = docs[("Deployment", "turnwatch-worker")]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = docs[("Service", "turnwatch")]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    pdb = docs[("PodDisruptionBudget", "turnwatch-worker")]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    config = yaml.safe_load(docs[("ConfigMap", "turnwatch-config")]["data"]["turnwatch.yaml"])
    assert deployment["spec"]["replicas"] <= config["partitions"]
    secret_keys = set(docs[("Secret", "turnwatch-secrets")]["stringData"])
    referenced = set(
        re.findall(r"/etc/turnwatch/secrets/([\w-]+)", docs[("ConfigMap", "turnwatch-config")]["data"]["delivery.yaml"])
    )
    assert referenced <= secret_keys
    console = docs[("Deployment", "turnwatch-console")]
    [container] = console["spec"]["template"]["spec"]["containers"]
    env_secrets = {e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"] if "valueFrom" in e}
    assert env_secrets <= secret_keys and "console-tokens" in secret_keys
    assert docs[("Service", "turnwatch-console")]["spec"]["selector"].items() <= (
        console["spec"]["template"]["metadata"]["labels"].items()
    )


def test_kubernetes_settings_are_valid_turnwatch_settings(tmp_path, monkeypatch):
    from streams.runtime.delivery.config import DeliveryConfig
    from streams.settings import load_settings

    data = load_all()[("ConfigMap", "turnwatch-config")]["data"]
    path = tmp_path / "turnwatch.yaml"
    path.write_text(data["turnwatch.yaml"])
    for key in list(__import__("os").environ):
        if key.startswith("TURNWATCH_"):
            monkeypatch.delenv(key)
    settings = load_settings(path)
    assert settings.partitions == 12 and settings.encoder_backend == "onnx"
    DeliveryConfig.model_validate(yaml.safe_load(data["delivery.yaml"]))
