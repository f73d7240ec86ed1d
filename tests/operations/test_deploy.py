"""The deployment files: compose.yaml against the Compose Specification's schema, the ECS
CloudFormation template through cfn-lint and the seed's sizing, and the Dockerfile installing
exactly as CI does."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("admin_api", "gateway", "renderer")
# cfn-lint (pinned in the dev dependencies) through the test's own interpreter.
CFN_LINT = "import sys; from cfnlint.runner import main; sys.exit(main())"


def test_compose_file_matches_the_compose_specification() -> None:
    schema = json.loads((ROOT / "tests/data/compose-spec.json").read_text())
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(compose), key=lambda e: list(e.path)
    )
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_the_schema_check_rejects_a_broken_compose_file() -> None:
    schema = json.loads((ROOT / "tests/data/compose-spec.json").read_text())
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    compose["services"]["gateway"]["depends_on"]["migrate"]["condition"] = "when_it_feels_like_it"
    compose["services"]["gateway"]["restart_policy"] = "always"
    messages = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(compose)]
    assert len(messages) >= 2, messages


def test_compose_runs_every_service_after_migrations_with_health_checks() -> None:
    every = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    # The monitoring profile's services start only when asked for (tests/operations/test_alerts).
    services = {name: service for name, service in every.items() if "profiles" not in service}
    assert set(services) == {"postgres", "redis", "migrate", *APP_SERVICES}
    assert services["migrate"]["command"] == ["dyndash", "migrate"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("postgres", "redis", *APP_SERVICES):
        assert services[name]["healthcheck"]["test"], name
    for name in APP_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert services[name]["command"][:2] == ["dyndash", name.split("_")[0]], name


class _CloudFormationLoader(yaml.SafeLoader):
    """Short-form intrinsics (!Ref, !Sub, ...) read as {"Fn": value}; structure only."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {suffix: value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def _template() -> dict[str, Any]:
    text = (ROOT / "deploy/ecs/dyndash.yaml").read_text()
    loaded: dict[str, Any] = yaml.load(text, Loader=_CloudFormationLoader)
    return loaded


def test_cloudformation_template_passes_cfn_lint() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CFN_LINT, str(ROOT / "deploy/ecs/dyndash.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cloudformation_services_have_the_seed_sizing_and_scaling() -> None:
    template = _template()
    resources = template["Resources"]

    def of_type(kind: str) -> dict[str, Any]:
        return {name: r for name, r in resources.items() if r["Type"] == kind}

    tasks = of_type("AWS::ECS::TaskDefinition")
    services = of_type("AWS::ECS::Service")
    assert len(services) == 3
    for name in ("GatewayTaskDefinition", "AdminTaskDefinition", "RendererTaskDefinition"):
        properties = tasks[name]["Properties"]
        assert (properties["Cpu"], properties["Memory"]) == ("1024", "2048"), name
        assert properties["RequiresCompatibilities"] == ["FARGATE"], name
        (container,) = properties["ContainerDefinitions"]
        assert container["MemoryReservation"] == 1024, name
        secrets = {secret["Name"] for secret in container["Secrets"]}
        assert {"DATABASE_URL", "DYNDASH_KEY_PEPPER", "DYNDASH_BOOTSTRAP_API_KEY"} <= secrets
        assert container["LogConfiguration"]["LogDriver"] == "awslogs", name
    for name in ("GatewayTaskDefinition", "AdminTaskDefinition"):
        (container,) = tasks[name]["Properties"]["ContainerDefinitions"]
        assert container["PortMappings"][0]["ContainerPort"] == 8000, name
        # Rate limits key on the client behind the load balancer, which forwards from the VPC.
        environment = {item["Name"]: item["Value"] for item in container["Environment"]}
        assert environment["DYNDASH_TRUSTED_PROXIES"] == {"Ref": "VpcCidr"}, name
    parameters = template["Parameters"]
    assert (parameters["DesiredCount"]["Default"], parameters["MinCount"]["Default"]) == (2, 1)
    assert parameters["MaxCount"]["Default"] == 5
    targets: dict[str, set[str]] = {}
    for policy in of_type("AWS::ApplicationAutoScaling::ScalingPolicy").values():
        configuration = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
        predefined = configuration.get("PredefinedMetricSpecification", {})
        metric = (
            predefined.get("PredefinedMetricType")
            or configuration["CustomizedMetricSpecification"]["MetricName"]
        )
        target = configuration["TargetValue"]
        targets.setdefault(str(policy["Properties"]["ScalingTargetId"]), set()).add(
            f"{metric}={target}"
        )
    assert len(targets) == 3
    for policies in targets.values():
        assert {"ECSServiceAverageCPUUtilization=70", "ECSServiceAverageMemoryUtilization=80"} <= {
            p.replace(".0", "") for p in policies
        }
    assert any(any(p.startswith("RenderQueueDepth=") for p in ps) for ps in targets.values())
    # The queue-depth metric comes from the renderer's log lines (see the worker's reporter).
    (metric_filter,) = of_type("AWS::Logs::MetricFilter").values()
    transformation = metric_filter["Properties"]["MetricTransformations"][0]
    assert transformation["MetricName"] == "RenderQueueDepth"
    assert "render_queue_depth" in metric_filter["Properties"]["FilterPattern"]
    balancers = of_type("AWS::ElasticLoadBalancingV2::LoadBalancer")
    schemes = sorted(b["Properties"]["Scheme"] for b in balancers.values())
    assert schemes == ["internal", "internet-facing"]
    assert of_type("AWS::RDS::DBInstance")
    assert of_type("AWS::ElastiCache::ReplicationGroup")
    # Metrics are off the ports the load balancers reach, not hidden by path rules (which
    # match literal paths only): the scraper reaches 9100 alone, where every service serves them.
    assert not of_type("AWS::ElasticLoadBalancingV2::ListenerRule")
    ingress = of_type("AWS::EC2::SecurityGroupIngress").values()
    scraped = {
        (rule["Properties"]["FromPort"], rule["Properties"]["ToPort"])
        for rule in ingress
        if rule["Properties"].get("CidrIp") == {"Ref": "MetricsScraperCidr"}
    }
    assert scraped == {(9100, 9100)}
    for name in ("GatewayTaskDefinition", "AdminTaskDefinition"):
        (container,) = tasks[name]["Properties"]["ContainerDefinitions"]
        environment = {item["Name"]: item["Value"] for item in container["Environment"]}
        assert environment["DYNDASH_METRICS_HOST"] == "0.0.0.0", name
        assert environment["DYNDASH_METRICS_PORT"] == "9100", name
        assert {"ContainerPort": 9100, "Protocol": "tcp"} in container["PortMappings"], name


def test_dockerfile_installs_as_ci_does_and_runs_unprivileged() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, re.MULTILINE)) >= 2  # multi-stage
    # `make test` installs with `uv sync --frozen` from the one lock; the image does the same.
    assert "$(UV) sync --frozen" in makefile
    assert re.search(r"^RUN uv sync --frozen", dockerfile, re.MULTILINE)
    pinned = re.search(r"pip install --no-cache-dir uv==([\d.]+)", dockerfile)
    assert pinned is not None
    assert f"uv=={pinned.group(1)}" in makefile, "the Makefile and the image install other uv"
    user = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert user
    assert user[-1] not in ("root", "0")


def _exported_metric_names() -> set[str]:
    """Every series name the services can export, from the process-wide registry."""
    from prometheus_client import REGISTRY

    # Importing them registers every metric: the shared library's and each service's own.
    import dyndash_common.metrics  # noqa: F401
    import dyndash_gateway.metrics  # noqa: F401
    import dyndash_renderer.metrics  # noqa: F401
    from dyndash_common.web.instrumentation import _http_instrumentation

    _http_instrumentation()  # registers the instrumentator's HTTP metrics
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "gauge": ("",),
    }
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        for suffix in suffixes.get(family.type, ("",))
    }


def test_grafana_dashboard_queries_only_metrics_the_services_export() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/dyndash.json").read_text())
    expressions = [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]
    assert len(expressions) >= 10
    used = {
        name
        for expression in expressions
        for name in re.findall(r"\b((?:dyndash|http|process)_[a-z_]+)\b", expression)
    }
    assert used, expressions
    assert used <= _exported_metric_names(), used - _exported_metric_names()


def _docker_ignores(path: str, patterns: list[str]) -> bool:
    """Whether a .dockerignore excludes `path`: it or a parent directory matches a pattern
    (`**/` matching any depth; close enough to Docker's rules for the patterns used here)."""
    parts = path.split("/")
    candidates = ["/".join(parts[: end + 1]) for end in range(len(parts))]
    for pattern in patterns:
        bare = pattern.removeprefix("**/")
        for candidate in candidates:
            if fnmatch.fnmatchcase(candidate, pattern):
                return True
            if bare != pattern and fnmatch.fnmatchcase(candidate.rsplit("/", 1)[-1], bare):
                return True
    return False


def test_the_image_build_context_leaves_out_local_state() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for excluded in (
        ".git/HEAD",
        ".venv/bin/python",
        ".tools/bin/uv",
        ".dyndash/dev-api-key",
        "dyndash.db",
        "dyndash.db-wal",
        "libs/common/dyndash_common/__pycache__/settings.cpython-311.pyc",
        "tests/conftest.py",
    ):
        assert _docker_ignores(excluded, patterns), excluded
    for needed in (
        "pyproject.toml",
        "uv.lock",
        "README.md",
        "dyndash/cli.py",
        "libs/common/pyproject.toml",
        "libs/common/dyndash_common/db/migrations/versions/0001_initial.py",
        "services/gateway/dyndash_gateway/front.py",
    ):
        assert not _docker_ignores(needed, patterns), needed
