"""The Kubernetes manifests of the nginx shapes (deploy/kubernetes/, a kustomize base),
read without a cluster: built with `kubectl kustomize`, every object validated against
Kubernetes' schemas (kubernetes-validate, strict, the oldest and newest versions it
knows), and held against the compose file, the images and uwsgi.ini, so each number
has one source: the probes follow the images' health checks, the security context
compose's lock-down, the grace periods uWSGI's and supervisor's stop timeouts."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from baked import compose_config, dockerfile_user, healthcheck, settings_file
from conftest import Bake
from helpers import ini_option, run, seconds
from hooks.plan import Plan

MANIFESTS = "deploy/kubernetes"
KUBERNETES_VERSIONS = ("1.25.0", "1.37.0")
VARIANTS = [
    {"server": server, "processes": processes}
    for server in ("nginx-uwsgi", "nginx-http")
    for processes in ("auto", "3")
] + [
    {"server": server, "processes": "auto", "https": "yes"}
    for server in ("nginx-uwsgi", "nginx-http")
]

Object = dict[str, Any]


@pytest.fixture(
    params=VARIANTS,
    ids=lambda answers: "-".join(
        value if key != "https" else key for key, value in answers.items()
    ),
)
def answers(request: pytest.FixtureRequest) -> dict[str, str]:
    return request.param


@pytest.fixture
def objects(project: Path) -> dict[tuple[str, str], Object]:
    """The kustomize build, by (kind, name)."""
    built = kustomize(project)
    by_name = {(obj["kind"], obj["metadata"]["name"]): obj for obj in built}
    assert len(by_name) == len(built), "two objects of a kind share a name"
    return by_name


def kustomize(project: Path, component: str = "") -> list[Object]:
    """`kubectl kustomize` of the base, or of one component's folder in it."""
    kubectl = shutil.which("kubectl")
    assert kubectl, "no kubectl: `make setup` installs Debian's kubernetes-client"
    output = run([kubectl, "kustomize", str(project / MANIFESTS / component)]).stdout
    return [obj for obj in yaml.safe_load_all(output) if obj]


def validate(obj: Object) -> None:
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
            raise AssertionError(f"{name} against Kubernetes {version}: {error}") from error


def pod(objects: dict[tuple[str, str], Object], plan: Plan, component: str) -> Object:
    return objects["Deployment", f"{plan.k8s_name}-{component}"]["spec"]["template"]["spec"]


def container(objects: dict[tuple[str, str], Object], plan: Plan, component: str) -> Object:
    [only] = pod(objects, plan, component)["containers"]
    return only


def secret_files(objects: dict[tuple[str, str], Object], plan: Plan, component: str) -> dict:
    """The files a component's container has from Secrets: {(Secret, key): (path, mode)}."""
    spec = pod(objects, plan, component)
    mounts = {m["name"]: m for m in container(objects, plan, component)["volumeMounts"]}
    files = {}
    for volume in spec["volumes"]:
        if volume["name"] not in mounts:
            continue
        folder = mounts[volume["name"]]["mountPath"]
        if "secret" in volume:
            sources = [{"secret": {"name": volume["secret"]["secretName"], **volume["secret"]}}]
            mode = volume["secret"]["defaultMode"]
        elif "projected" in volume:
            sources = volume["projected"]["sources"]
            mode = volume["projected"]["defaultMode"]
        else:
            continue
        assert mounts[volume["name"]]["readOnly"] is True
        for source in sources:
            for item in source["secret"]["items"]:
                path = f"{folder}/{item['path']}"
                files[source["secret"]["name"], item["key"]] = (path, item.get("mode", mode))
    return files


def prestop_seconds(spec: Object) -> int:
    command = spec["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep", command
    return int(command[1])


def test_every_manifest_validates(project: Path, objects: dict[tuple[str, str], Object]) -> None:
    for obj in objects.values():
        validate(obj)
    # Each component on its own too (kubectl apply -k deploy/kubernetes/app).
    for component in ("app", "nginx"):
        for obj in kustomize(project, component):
            validate(obj)


def test_selectors_pick_their_own_pods(objects: dict[tuple[str, str], Object], plan: Plan) -> None:
    """kustomize's labels: each Service, PodDisruptionBudget and spread constraint selects
    exactly its Deployment's pods, and no other component's."""
    for component in ("app", "nginx"):
        name = f"{plan.k8s_name}-{component}"
        template = objects["Deployment", name]["spec"]["template"]
        labels = template["metadata"]["labels"]
        assert labels == {
            "app.kubernetes.io/name": plan.k8s_name,
            "app.kubernetes.io/component": component,
        }
        assert objects["Deployment", name]["spec"]["selector"]["matchLabels"] == labels
        assert objects["Service", name]["spec"]["selector"] == labels
        assert objects["PodDisruptionBudget", name]["spec"]["selector"]["matchLabels"] == labels
        [spread] = template["spec"]["topologySpreadConstraints"]
        assert spread["labelSelector"]["matchLabels"] == labels


def test_the_objects_are_the_ones_documented(
    objects: dict[tuple[str, str], Object], plan: Plan
) -> None:
    app, nginx = f"{plan.k8s_name}-app", f"{plan.k8s_name}-nginx"
    assert sorted(objects) == sorted(
        [
            ("Deployment", app),
            ("Service", app),
            ("PodDisruptionBudget", app),
            ("HorizontalPodAutoscaler", app),
            ("Deployment", nginx),
            ("Service", nginx),
            ("PodDisruptionBudget", nginx),
        ]
    )
    # Every Service, budget and autoscaler finds its own pods.
    for (kind, name), obj in objects.items():
        component = "app" if name == app else "nginx"
        labels = objects["Deployment", name]["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == component
        if kind == "Service":
            assert obj["spec"]["selector"] == labels
        elif kind in ("Deployment", "PodDisruptionBudget"):
            assert obj["spec"]["selector"]["matchLabels"] == labels
    autoscaler = objects["HorizontalPodAutoscaler", app]["spec"]
    assert autoscaler["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": app,
    }
    assert autoscaler["minReplicas"] == plan.app_replicas == 3
    assert autoscaler["maxReplicas"] > autoscaler["minReplicas"]
    # The autoscaler owns the app's replica count; nginx has a fixed one.
    assert "replicas" not in objects["Deployment", app]["spec"]
    assert objects["Deployment", nginx]["spec"]["replicas"] == plan.nginx_replicas
    for name in (app, nginx):
        assert objects["PodDisruptionBudget", name]["spec"]["maxUnavailable"] == 1
        update = objects["Deployment", name]["spec"]["strategy"]["rollingUpdate"]
        assert update == {"maxSurge": 1, "maxUnavailable": 0}  # swarm's start-first


def test_kustomize_sets_the_images_the_makefile_builds(
    objects: dict[tuple[str, str], Object], plan: Plan, project: Path
) -> None:
    assert container(objects, plan, "app")["image"] == f"{plan.app_repository}:1"
    assert container(objects, plan, "nginx")["image"] == f"{plan.nginx_repository}:1"
    makefile = (project / "Makefile").read_text()
    assert f"$(IMAGE_PREFIX){plan.app_repository}:$(APP_VERSION)" in makefile
    assert f"$(IMAGE_PREFIX){plan.nginx_repository}:$(NGINX_VERSION)" in makefile


def test_a_release_rolls_the_app_and_nginx_out_at_one_tag(
    objects: dict[tuple[str, str], Object], plan: Plan, project: Path, tmp_path: Path
) -> None:
    """nginx's image holds the app's static files: kustomization.yaml gives both images
    one tag, the release's, under which `make swarm-images swarm-push APP_VERSION=N`
    tags and pushes both; that one tag set there rolls both Deployments out."""
    images = yaml.safe_load((project / MANIFESTS / "kustomization.yaml").read_text())["images"]
    tags = {image["name"]: image["newTag"] for image in images}
    assert tags[plan.app_repository] == tags[plan.nginx_repository]
    prefix, release = "registry/team/", "7"
    commands = run(
        ["make", "--dry-run", "swarm-images", "swarm-push", f"APP_VERSION={release}",
         f"IMAGE_PREFIX={prefix}", "STACK=s"],
        cwd=project,
    ).stdout.splitlines()  # fmt: skip
    for built, repository in (("s-app", plan.app_repository), ("s-nginx", plan.nginx_repository)):
        assert f"docker tag {built} {prefix}{repository}:{release}" in commands
        assert f"docker push {prefix}{repository}:{release}" in commands
    # The release as a user makes it: its tag in a copy of the base, for both images.
    shutil.copytree(project / MANIFESTS, tmp_path / MANIFESTS)
    kustomization = tmp_path / MANIFESTS / "kustomization.yaml"
    text = kustomization.read_text()
    for repository in (plan.app_repository, plan.nginx_repository):
        entry = f'  - name: {repository}\n    newTag: "{tags[repository]}"'
        assert entry in text
        text = text.replace(entry, f'  - name: {repository}\n    newTag: "{release}"')
    kustomization.write_text(text)
    released = {(obj["kind"], obj["metadata"]["name"]): obj for obj in kustomize(tmp_path)}
    assert released.keys() == objects.keys()
    for component, repository in (("app", plan.app_repository), ("nginx", plan.nginx_repository)):
        assert container(released, plan, component)["image"] == f"{repository}:{release}"


def test_pods_are_locked_down_as_compose_runs_them(
    objects: dict[tuple[str, str], Object], plan: Plan, project: Path
) -> None:
    compose = compose_config(project)
    users = {
        "app": dockerfile_user(project / "Dockerfile"),
        "nginx": dockerfile_user(project / "nginx/Dockerfile"),
    }
    for component in ("app", "nginx"):
        service = compose[component]
        spec = pod(objects, plan, component)
        security = container(objects, plan, component)["securityContext"]
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == users[component]
        assert spec["securityContext"]["runAsGroup"] == users[component]
        # Docker's default seccomp profile, which compose's containers get.
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert security["readOnlyRootFilesystem"] is service["read_only"] is True
        assert security["capabilities"]["drop"] == service["cap_drop"] == ["ALL"]
        assert security["allowPrivilegeEscalation"] is False
        assert "no-new-privileges:true" in service["security_opt"]
        # compose's tmpfs mounts: emptyDirs in memory.
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        in_memory = {
            mount["mountPath"]
            for mount in container(objects, plan, component)["volumeMounts"]
            if volumes[mount["name"]].get("emptyDir") == {"medium": "Memory"}
        }
        assert in_memory == {mount.split(":")[0] for mount in service["tmpfs"]}
    # compose's init: true: a PID 1 that is not supervisord (the pod's pause process).
    assert compose["app"]["init"] is True
    assert pod(objects, plan, "app")["shareProcessNamespace"] is True
    assert "shareProcessNamespace" not in pod(objects, plan, "nginx")


def test_probes_follow_the_images_health_checks(
    objects: dict[tuple[str, str], Object], plan: Plan, project: Path
) -> None:
    harakiri = int(ini_option(project / "ops/uwsgi.ini", "harakiri"))
    # The app: the image's own check (uwsgi protocol or HTTP, over uWSGI's listener).
    check = healthcheck(project / "Dockerfile")
    app = container(objects, plan, "app")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert (
            app[probe]["exec"]["command"] == check["command"] == ["python3", "ops/healthcheck.py"]
        )
        assert app[probe]["timeoutSeconds"] == check["timeout"]
    startup, readiness, liveness = (
        app[p] for p in ("startupProbe", "readinessProbe", "livenessProbe")
    )
    # Fast while starting, rare once started, as Docker's start_interval and interval.
    assert startup["periodSeconds"] == check["start_interval"] < check["interval"]
    assert readiness["periodSeconds"] == check["interval"] >= 10
    assert startup["periodSeconds"] * startup["failureThreshold"] == check["start_period"]
    assert readiness["failureThreshold"] == check["retries"]
    # A restart only after failing longer than harakiri, which replaces a stuck worker first.
    assert liveness["periodSeconds"] * (liveness["failureThreshold"] - 1) >= harakiri
    # nginx: ready when /healthz answers through it; alive when it accepts connections.
    check = healthcheck(project / "nginx/Dockerfile")
    # curl, through a shell that expands HEALTHCHECK_PATH (the image's ENV gives its default).
    # With https, over HTTPS as clients come (neither verifies the certificate).
    match = re.search(r'"(https?)://127\.0\.0\.1:(\d+)\$HEALTHCHECK_PATH"', check["command"][-1])
    assert match, check["command"]
    scheme, port, path = match[1], int(match[2]), plan.healthcheck_path
    assert scheme == ("https" if plan.https else "http")
    assert f"HEALTHCHECK_PATH={path}" in (project / "nginx/Dockerfile").read_text()
    nginx = container(objects, plan, "nginx")
    ports = {entry["name"]: entry["containerPort"] for entry in nginx["ports"]}
    assert ports[scheme] == port
    for probe in ("startupProbe", "readinessProbe"):
        expected = {"path": path, "port": scheme} | ({"scheme": "HTTPS"} if plan.https else {})
        assert nginx[probe]["httpGet"] == expected
        assert nginx[probe]["timeoutSeconds"] == check["timeout"]
    assert nginx["startupProbe"]["periodSeconds"] == check["start_interval"]
    assert nginx["readinessProbe"]["periodSeconds"] == check["interval"]
    assert nginx["readinessProbe"]["failureThreshold"] == check["retries"]
    startup = nginx["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] == check["start_period"]
    assert nginx["livenessProbe"]["tcpSocket"] == {"port": "http"}


def test_nginx_serves_https_with_the_tls_secret(
    objects: dict[tuple[str, str], Object], plan: Plan
) -> None:
    """https=yes: the certificate of a kubernetes.io/tls Secret as the files compose mounts,
    the key readable by nginx's group only; the Service's HTTPS port is where plain HTTP
    redirects to."""
    nginx_name = f"{plan.k8s_name}-nginx"
    nginx = container(objects, plan, "nginx")
    pod = objects["Deployment", nginx_name]["spec"]["template"]["spec"]
    service_ports = {p["name"]: p for p in objects["Service", nginx_name]["spec"]["ports"]}
    ports = {entry["name"]: entry["containerPort"] for entry in nginx["ports"]}
    if not plan.https:
        assert set(ports) == set(service_ports) == {"http"}
        assert not any(volume["name"] == "certs" for volume in pod["volumes"])
        return
    assert ports == {"http": plan.nginx_port, "https": plan.nginx_https_port}
    assert service_ports["https"] == {"name": "https", "port": 443, "targetPort": "https"}
    env = {variable["name"]: variable.get("value") for variable in nginx["env"]}
    assert env["HTTPS_PORT"] == str(service_ports["https"]["port"])
    [certs] = [volume for volume in pod["volumes"] if volume["name"] == "certs"]
    assert certs["secret"] == {
        "secretName": f"{plan.k8s_name}-tls",
        "defaultMode": 0o440,
        "items": [{"key": "tls.crt", "path": "cert.pem"}, {"key": "tls.key", "path": "key.pem"}],
    }
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]
    [mount] = [mount for mount in nginx["volumeMounts"] if mount["name"] == "certs"]
    assert mount == {"name": "certs", "mountPath": plan.certs_dir, "readOnly": True}


def test_grace_periods_outlast_the_stop_timeouts(
    objects: dict[tuple[str, str], Object], plan: Plan, project: Path
) -> None:
    compose = compose_config(project)
    mercy = int(ini_option(project / "ops/uwsgi.ini", "worker-reload-mercy"))
    stopwaitsecs = int(ini_option(project / "ops/supervisord.conf", "stopwaitsecs"))
    app_pod, app = pod(objects, plan, "app"), container(objects, plan, "app")
    drain = prestop_seconds(app)
    # After the drain, as long as compose gives: longer than supervisor, longer than uWSGI.
    grace = app_pod["terminationGracePeriodSeconds"] - drain
    assert grace == seconds(compose["app"]["stop_grace_period"])
    assert mercy < stopwaitsecs < grace
    # nginx's requests in flight end within its read timeout, after harakiri.
    site = (project / "nginx/templates/default.conf.template").read_text()
    [read_timeout] = map(int, re.findall(r"_read_timeout (\d+)s;", site))
    assert int(ini_option(project / "ops/uwsgi.ini", "harakiri")) < read_timeout
    nginx_pod, nginx = pod(objects, plan, "nginx"), container(objects, plan, "nginx")
    assert nginx_pod["terminationGracePeriodSeconds"] - prestop_seconds(nginx) > read_timeout
    assert prestop_seconds(nginx) == drain > 0


def test_nginx_reaches_the_app_over_tcp(
    objects: dict[tuple[str, str], Object], plan: Plan, project: Path
) -> None:
    app, nginx = container(objects, plan, "app"), container(objects, plan, "nginx")
    app_env = {var["name"]: var for var in app["env"]}
    nginx_env = {var["name"]: var for var in nginx["env"]}
    port = plan.app_port
    assert app_env["APP_ADDRESS"]["value"] == nginx_env["APP_ADDRESS"]["value"] == f":{port}"
    [listener] = [port for port in app["ports"] if port["name"] != "metrics"]
    service = objects["Service", f"{plan.k8s_name}-app"]["spec"]
    [service_port] = service["ports"]
    assert listener["containerPort"] == service_port["port"] == port
    assert service_port["targetPort"] == listener["name"] == plan.shape.protocol
    # nginx's resolver uses no search domains: the Service's full name.
    assert nginx_env["POD_NAMESPACE"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}
    }
    assert (
        nginx_env["APP_HOST"]["value"] == f"{plan.k8s_name}-app.$(POD_NAMESPACE).svc.cluster.local"
    )
    script = (project / "nginx/docker-entrypoint.d/18-app-upstream.envsh").read_text()
    assert "${APP_HOST:-app}" in script
    # The secret key as a file the app's group can read, where SECRET_KEY_FILE says.
    files = secret_files(objects, plan, "app")
    path, mode = files[f"{plan.k8s_name}-secret-key", "SECRET_KEY"]
    assert app_env["SECRET_KEY_FILE"]["value"] == path
    assert mode == 0o440
    assert pod(objects, plan, "app")["securityContext"]["fsGroup"] == plan.app_uid


def test_the_settings_secret_reaches_the_app_only(
    objects: dict[tuple[str, str], Object], plan: Plan, project: Path
) -> None:
    """The Secret NAME-settings (all of .env, key `settings`) is projected where the image's
    CMD reads it, beside the secret key, a file of the app's group (as swarm's is of its
    user); nginx's pods have no Secret of it, nor anything else of .env. The manifest says
    how to create it."""
    settings = f"{plan.k8s_name}-settings"
    app_files = secret_files(objects, plan, "app")
    path, mode = app_files[settings, "settings"]
    assert path == settings_file(project / "Dockerfile") == "/run/secrets/settings"
    assert mode == 0o440
    [volume] = [v for v in pod(objects, plan, "app")["volumes"] if "projected" in v]
    assert volume["projected"]["defaultMode"] == mode
    # Every secret file in the one folder, none hiding another.
    paths = [path for path, _ in app_files.values()]
    assert len(set(paths)) == len(paths) and {p.rsplit("/", 1)[0] for p in paths} == {
        "/run/secrets"
    }
    spec = pod(objects, plan, "app")["securityContext"]
    assert spec["fsGroup"] == spec["runAsGroup"] == spec["runAsUser"] == plan.app_uid
    # nginx: no Secret but its certificate (with https), no settings in its environment.
    nginx_files = secret_files(objects, plan, "nginx")
    assert {secret for secret, _ in nginx_files} <= {f"{plan.k8s_name}-tls"}
    nginx = container(objects, plan, "nginx")
    assert "envFrom" not in nginx and "envFrom" not in container(objects, plan, "app")
    assert not any("secretKeyRef" in var.get("valueFrom", {}) for var in nginx["env"])
    # Only the app's Deployment names the Secret.
    naming = [key for key, obj in objects.items() if f'"{settings}"' in json.dumps(obj)]
    assert naming == [("Deployment", f"{plan.k8s_name}-app")]
    manifest = (project / MANIFESTS / "app/app.yaml").read_text()
    assert f"# kubectl create secret generic {settings} --from-file=settings=.env\n" in manifest


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_the_settings_secret_sits_beside_the_database_url(bake: Bake, database: str) -> None:
    """With a database too: one projected folder with the settings and the secrets whose
    files win over the same names in them, each a file of the app's group."""
    project = bake(database=database)
    plan = Plan.defaults(database=database)
    objects = {(obj["kind"], obj["metadata"]["name"]): obj for obj in kustomize(project)}
    files = secret_files(objects, plan, "app")
    expected = {
        (f"{plan.k8s_name}-settings", "settings"): ("/run/secrets/settings", 0o440),
        (f"{plan.k8s_name}-secret-key", "SECRET_KEY"): ("/run/secrets/secret_key", 0o440),
    }
    if database == "postgres":
        expected[f"{plan.k8s_name}-database-url", "DATABASE_URL"] = (
            "/run/secrets/database_url",
            0o440,
        )
    assert files == expected
    env = {var["name"]: var.get("value") for var in container(objects, plan, "app")["env"]}
    assert env["SECRET_KEY_FILE"] == "/run/secrets/secret_key"
    assert env.get("DATABASE_URL_FILE") == (
        "/run/secrets/database_url" if database == "postgres" else None
    )
    assert {secret for secret, _ in secret_files(objects, plan, "nginx")} == set()


def test_resources_leave_room_for_every_worker(
    objects: dict[tuple[str, str], Object], plan: Plan, project: Path
) -> None:
    resources = container(objects, plan, "app")["resources"]
    reload_on_rss_mb = int(ini_option(project / "ops/uwsgi.ini", "reload-on-rss"))
    memory_mb = int(resources["limits"]["memory"].removesuffix("Mi"))
    assert memory_mb >= plan.replica_workers * reload_on_rss_mb
    # processes = auto counts this limit: one CPU, two workers.
    assert resources["limits"]["cpu"] == "1000m"
    for component in ("app", "nginx"):
        limits, requests = (
            container(objects, plan, component)["resources"][k] for k in ("limits", "requests")
        )
        assert int(requests["cpu"].removesuffix("m")) <= int(limits["cpu"].removesuffix("m"))
        assert int(requests["memory"].removesuffix("Mi")) <= int(
            limits["memory"].removesuffix("Mi")
        )


def test_the_validator_rejects_a_broken_manifest(
    objects: dict[tuple[str, str], Object], plan: Plan
) -> None:
    """The validation above is no formality: an unknown field fails it."""
    broken = json.loads(json.dumps(objects["Deployment", f"{plan.k8s_name}-app"]))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["periodSecond"] = 2
    with pytest.raises(AssertionError, match="periodSecond"):
        validate(broken)


def test_standalone_has_no_scale_out_files(bake: Bake) -> None:
    project = bake(server="standalone")
    assert not (project / "deploy").exists()
    assert "swarm" not in (project / "Makefile").read_text()
    operations = (project / "docs/operations.md").read_text()
    assert "## Scaling out" in operations and "`nginx-uwsgi` or `nginx-http`" in operations


def test_app_pods_ask_prometheus_to_scrape_their_metrics(
    objects: dict[tuple[str, str], Object], plan: Plan
) -> None:
    """The annotations Prometheus' Kubernetes discovery conventionally keeps pods by, on the
    app's pod template, naming the exporter's port; no Service exposes that port."""
    deployment = objects["Deployment", f"{plan.k8s_name}-app"]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(plan.metrics_port),
        "prometheus.io/path": "/metrics",
    }
    ports = {
        port["name"]: port["containerPort"] for port in container(objects, plan, "app")["ports"]
    }
    assert ports["metrics"] == plan.metrics_port
    for (kind, name), obj in objects.items():
        if kind == "Service":
            assert plan.metrics_port not in [port["port"] for port in obj["spec"]["ports"]], name
