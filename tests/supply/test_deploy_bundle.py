"""deploy/: the Kubernetes manifests pass the API schemas, the compose file the compose spec, and both name
probes, commands and settings the service really has."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from carbon.api.routes.health import router as health_router
from carbon.cli import app as cli
from carbon.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
COMPOSE = ROOT / "deploy" / "compose"
KUBERNETES_VERSION = "1.30.0"  # the oldest release still in wide support; the manifests use nothing newer
PROBES = {route.path for route in health_router.routes}  # type: ignore[attr-defined]
SETTINGS = {f"CARBON_{name.upper()}" for name in Settings.model_fields}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def manifests() -> dict[str, dict[str, Any]]:
    listed = load(KUBERNETES / "kustomization.yaml")["resources"]
    return {name: load(KUBERNETES / name) for name in listed}


def kind(wanted: str) -> dict[str, Any]:
    (found,) = [doc for doc in manifests().values() if doc["kind"] == wanted]
    return found


def test_kustomization_lists_every_manifest() -> None:
    on_disk = {path.name for path in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(manifests()) == on_disk


@pytest.mark.parametrize("name", sorted(path.name for path in KUBERNETES.glob("*.yaml")
                                        if path.name != "kustomization.yaml"))  # fmt: skip
def test_manifest_passes_the_kubernetes_schema_strictly(name: str) -> None:
    kubernetes_validate.validate(load(KUBERNETES / name), KUBERNETES_VERSION, strict=True)


def test_the_schema_check_catches_a_misspelt_field() -> None:
    deployment = kind("Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {
        "httpGet": {"path": "/readyz"}
    }
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(doc["spec"]["template"]["spec"]["containers"])


def test_the_deployment_runs_two_probed_bounded_hardened_replicas() -> None:
    deployment = kind("Deployment")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    (container,) = containers(deployment)
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {
        container[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")
    } <= PROBES
    assert container["ports"][0]["containerPort"] == 8000
    assert set(container["resources"]) == {"requests", "limits"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
    }  # fmt: skip
    mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
    assert mounts == {"/tmp", "/var/lib/carbon"}  # the only writable places on a read-only root


def test_the_budget_and_the_service_select_the_deployments_pods() -> None:
    pods = kind("Deployment")["spec"]["template"]["metadata"]["labels"]
    budget = kind("PodDisruptionBudget")["spec"]
    assert budget["minAvailable"] == 1 and budget["selector"]["matchLabels"].items() <= pods.items()
    assert kind("Service")["spec"]["selector"].items() <= pods.items()


def test_the_migration_is_a_job_running_the_real_upgrade_command() -> None:
    job = kind("Job")
    (container,) = containers(job)
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert container["image"] == containers(kind("Deployment"))[0]["image"]
    assert container["command"] == ["carbon", "db", "upgrade"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize("command", [["db", "upgrade"], ["serve"], ["keys", "create"]])
def test_the_commands_the_bundle_runs_exist(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output


def env_names(doc: dict[str, Any]) -> set[str]:
    return {entry["name"] for container in containers(doc) for entry in container.get("env", [])}


def compose() -> dict[str, Any]:
    return dict(load(COMPOSE / "compose.yaml"))


def test_every_setting_the_bundle_sets_is_a_real_setting() -> None:
    names = env_names(kind("Deployment")) | env_names(kind("Job"))
    services = compose()["services"]
    names |= {
        name for service in services.values() for name in service.get("environment", {}) if "CARBON" in name
    }
    entrypoint = " ".join(services["carbon-1"]["entrypoint"])
    names |= set(re.findall(r"(CARBON_[A-Z_]+)=", entrypoint))
    assert names and names <= SETTINGS, names - SETTINGS


def test_compose_file_passes_the_compose_spec() -> None:
    """The compose spec's JSON schema as check-jsonschema ships it (vendor.compose-spec): no network."""
    schema_file = resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    validator.validate(compose())
    broken = compose()
    broken["services"]["carbon-1"]["healthcheck"]["intervall"] = "10s"
    with pytest.raises(jsonschema.ValidationError, match="intervall"):
        validator.validate(broken)


def test_compose_runs_postgres_a_migration_and_two_probed_hardened_replicas_behind_the_proxy() -> None:
    services = compose()["services"]
    replicas = [
        name for name, service in services.items() if service.get("command", [])[:2] == ["carbon", "serve"]
    ]
    assert replicas == ["carbon-1", "carbon-2"]
    for name in replicas:
        service = services[name]
        probe = " ".join(service["healthcheck"]["test"])
        assert re.search(r"http://127\.0\.0\.1:8000(/readyz)'", probe) and "/readyz" in PROBES
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        assert service["security_opt"] == ["no-new-privileges:true"]
        assert service["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
        assert set(service["secrets"]) == {"postgres_password", "carbon_key_secret"}
    assert services["migrate"]["command"] == ["carbon", "db", "upgrade"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    upstream = re.findall(r"server (carbon-\d):8000", (COMPOSE / "nginx.conf").read_text())
    assert upstream == replicas
    assert all(secret["file"].startswith("./secrets/") for secret in compose()["secrets"].values())
    assert "secrets/" in (COMPOSE / ".gitignore").read_text().split()


def test_the_proxy_is_the_only_trusted_forwarder() -> None:
    services = compose()["services"]
    proxy_address = services["proxy"]["networks"]["ledger"]["ipv4_address"]
    assert services["carbon-1"]["environment"]["CARBON_TRUSTED_PROXIES"] == proxy_address
