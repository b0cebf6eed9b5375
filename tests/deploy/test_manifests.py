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


def compose_prometheus() -> tuple[dict, dict]:
    """(the compose services, the Prometheus config compose mounts)."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    mounts = dict(v.split(":")[:2][::-1] for v in services["prometheus"]["volumes"])
    command = services["prometheus"]["command"]
    config_in_container = next(a.split("=", 1)[1] for a in command if a.startswith("--config.file="))
    config = yaml.safe_load((ROOT / mounts[config_in_container]).read_text())
    return services, config


def listen_port(service: dict) -> int:
    """The port a turnwatch console service listens on: its --port, TURNWATCH_CONSOLE_PORT, or the default."""
    from streams.settings import Settings

    command = service["command"]
    if "--port" in command:
        return int(command[command.index("--port") + 1])
    return int(
        service.get("environment", {}).get("TURNWATCH_CONSOLE_PORT", Settings.model_fields["console_port"].default)
    )


def reachable_ports(service: dict) -> set[int]:
    """Container ports other services can reach: ``expose`` and the container side of ``ports``."""
    ports = {int(str(p)) for p in service.get("expose", [])}
    return ports | {int(str(p).rsplit(":", 1)[-1].split("/")[0]) for p in service.get("ports", [])}


def test_compose_prometheus_scrapes_the_workers_and_the_console():
    from streams.console.web import PUBLIC_PATHS
    from streams.tooling.dashboards import CONSOLE_JOB, WORKER_JOB

    services, config = compose_prometheus()
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) >= {WORKER_JOB, CONSOLE_JOB}, "the dashboards' up{job=...} panels name these jobs"

    [workers] = jobs[WORKER_JOB]["dns_sd_configs"]
    assert workers["names"] == ["worker"] and "worker" in services["worker"]["command"]
    assert workers["port"] in reachable_ports(services["worker"])

    console_job = jobs[CONSOLE_JOB]
    [target] = [t for static in console_job["static_configs"] for t in static["targets"]]
    host, port = target.rsplit(":", 1)
    console = services[host]
    assert "console" in console["command"], f"{target} is not the console service"
    command = console["command"]
    assert command[command.index("--host") + 1] == "0.0.0.0", "the console binds loopback unless told"
    assert int(port) == listen_port(console), "the scrape port is the port the console listens on"
    assert int(port) in reachable_ports(console)
    # No sign-in on /metrics: a scrape needs no token or session cookie.
    assert console_job.get("metrics_path", "/metrics") in PUBLIC_PATHS
    assert not {"authorization", "basic_auth", "oauth2"} & set(console_job)


def test_compose_prometheus_config_passes_promtool(tmp_path):
    _, config = compose_prometheus()
    config["rule_files"] = [str(ROOT / "deploy" / "prometheus" / "rules.yml")]  # mounted there in compose
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run([tool("promtool"), "check", "config", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


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
    from streams.delivery.config import DeliveryConfig
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


def test_kubernetes_prometheus_scrapes_the_console_like_the_workers():
    from streams.console.web import PUBLIC_PATHS
    from streams.settings import Settings
    from streams.tooling.dashboards import CONSOLE_JOB, WORKER_JOB

    docs = load_all()
    console = docs[("Deployment", "turnwatch-console")]
    [container] = console["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--host") + 1] == "0.0.0.0"
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for name, job in (("turnwatch", WORKER_JOB), ("turnwatch-console", CONSOLE_JOB)):
        service = docs[("Service", name)]
        annotations = service["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true", name
        assert annotations["prometheus.io/path"] == "/metrics", name
        # The ServiceMonitor selects both Services; without a jobLabel the job is the Service's name.
        monitor = docs[("ServiceMonitor", "turnwatch")]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items(), name
        assert "jobLabel" not in monitor["spec"] and name == job, "the dashboards' up{job=...} panels"
        service_ports = {p["name"] for p in service["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= service_ports, name
        assert {e.get("path", "/metrics") for e in monitor["spec"]["endpoints"]} == {"/metrics"}
    service = docs[("Service", "turnwatch-console")]
    [http] = service["spec"]["ports"]
    assert int(service["metadata"]["annotations"]["prometheus.io/port"]) == container_ports[http["targetPort"]]
    settings = yaml.safe_load(docs[("ConfigMap", "turnwatch-config")]["data"]["turnwatch.yaml"])
    listens = settings.get("console_port", Settings.model_fields["console_port"].default)
    assert container_ports[http["targetPort"]] == listens, "the container port is the port the console listens on"
    assert "/metrics" in PUBLIC_PATHS, "scrapes carry no console session"


def test_autoscaling_overlay_scales_the_worker_on_turns_lag_within_its_partitions(tmp_path, monkeypatch):
    from streams.settings import load_settings

    overlay = K8S / "autoscaling"
    kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    assert "../" in kustomization["resources"]
    for resource in kustomization["resources"][1:] + [p["path"] for p in kustomization["patches"]]:
        assert (overlay / resource).is_file(), resource
    scaled = yaml.safe_load((overlay / "scaledobject.yaml").read_text())
    patch = yaml.safe_load((overlay / "worker-sizing.yaml").read_text())
    base = load_all()
    worker = base[("Deployment", "turnwatch-worker")]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1" and scaled["kind"] == "ScaledObject"
    assert scaled["spec"]["scaleTargetRef"]["name"] == worker["metadata"]["name"] == patch["metadata"]["name"]
    assert patch["spec"]["replicas"] is None  # KEDA owns the count

    # The worker's effective settings: the base's file with the overlay's environment.
    path = tmp_path / "turnwatch.yaml"
    path.write_text(base[("ConfigMap", "turnwatch-config")]["data"]["turnwatch.yaml"])
    for key in list(__import__("os").environ):
        if key.startswith("TURNWATCH_"):
            monkeypatch.delenv(key)
    [container] = patch["spec"]["template"]["spec"]["containers"]
    for variable in container["env"]:
        monkeypatch.setenv(variable["name"], variable["value"])
    settings = load_settings(path)
    triggers = {t["type"]: t for t in scaled["spec"]["triggers"]}
    assert set(triggers) == {"cpu", "kafka"}
    resources = container["resources"]
    assert resources["requests"]["cpu"] == resources["limits"]["cpu"], "utilisation is of the request"
    trigger = triggers["kafka"]
    assert trigger["metadata"]["topic"] == settings.turns_topic
    assert trigger["metadata"]["consumerGroup"] == settings.app_id
    assert trigger["metadata"]["bootstrapServers"] == settings.broker
    assert 1 <= scaled["spec"]["minReplicaCount"] < scaled["spec"]["maxReplicaCount"] == settings.partitions
    assert int(trigger["metadata"]["lagThreshold"]) > int(trigger["metadata"]["activationLagThreshold"]) > 0
