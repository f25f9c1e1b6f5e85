"""The swarm stack file as `docker stack deploy` reads it (no swarm needed): it follows
compose.yaml, uWSGI's ini and the plan; the settings secret is named after .env's
content; HTTPS with the certificate and key as secrets."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

from baked import STACK_FILE, compose_config, settings_file, stack_config
from conftest import Bake
from helpers import (
    ini_option,
    run,
    seconds,
)
from hooks.plan import Plan
from stack import write_env
from swarm import (
    GREETING,
    env_hash,
)


def tmpfs_targets(service: dict[str, Any]) -> set[str]:
    return {volume["target"] for volume in service["volumes"] if volume["type"] == "tmpfs"}


@pytest.mark.parametrize("server", ["nginx-uwsgi", "nginx-http"])
def test_stack_file_follows_compose_uwsgi_and_the_plan(bake: Bake, server: str) -> None:
    """The stack runs what compose runs, as locked down, with the same numbers, on TCP."""
    project = bake(server=server)
    plan = Plan.defaults(server=server)
    compose = compose_config(project)
    stack = stack_config(project)
    app, nginx = stack["services"]["app"], stack["services"]["nginx"]
    assert (app["image"], nginx["image"]) == ("flask_service-app:1", "flask_service-nginx:1")

    # Locked down as compose: init (supervisord is not PID 1), read-only, no capabilities,
    # tmpfs where compose has one (nginx's rendered site: a volume of its own, see the file).
    for service in ("app", "nginx"):
        assert stack["services"][service]["read_only"] is compose[service]["read_only"] is True
        assert stack["services"][service]["cap_drop"] == compose[service]["cap_drop"] == ["ALL"]
    assert app["init"] is compose["app"]["init"] is True
    assert tmpfs_targets(app) == set(compose["app"]["tmpfs"])
    conf = {volume["target"] for volume in nginx["volumes"] if volume["type"] == "volume"}
    assert tmpfs_targets(nginx) | conf == {
        mount.split(":")[0] for mount in compose["nginx"]["tmpfs"]
    }
    assert "source" not in next(v for v in nginx["volumes"] if v["type"] == "volume")

    # One listener setting: TCP on the app's port, for nginx on any node.
    address = f":{plan.app_port}"
    assert app["environment"]["APP_ADDRESS"] == nginx["environment"]["APP_ADDRESS"] == address
    assert app["deploy"]["endpoint_mode"] == nginx["deploy"]["endpoint_mode"] == "dnsrr"

    # Graceful stops: uWSGI's mercy < supervisor's stopwaitsecs < swarm's grace = compose's.
    mercy = int(ini_option(project / "ops/uwsgi.ini", "worker-reload-mercy"))
    stopwaitsecs = int(ini_option(project / "ops/supervisord.conf", "stopwaitsecs"))
    grace = seconds(app["stop_grace_period"])
    assert mercy < stopwaitsecs < grace == seconds(compose["app"]["stop_grace_period"])
    site = (project / "nginx/templates/default.conf.template").read_text()
    [read_timeout] = re.findall(r"_read_timeout (\d+)s;", site)
    assert seconds(nginx["stop_grace_period"]) > int(read_timeout)

    # Replicas, rolling updates that start the new replica first and roll back on failure,
    # watched as long as the health check takes to fail.
    deploy = app["deploy"]
    assert deploy["replicas"] == plan.app_replicas == 3
    assert deploy["update_config"] == {
        "parallelism": 1,
        "order": "start-first",
        "failure_action": "rollback",
        "monitor": f"{plan.swarm_update_monitor}s",
    }
    assert deploy["rollback_config"] == {"parallelism": 1, "order": "start-first"}
    healthcheck = re.search(
        r"--interval=(\d+)s --timeout=(\d+)s .*--retries=(\d+)",
        (project / "Dockerfile").read_text(),
    )
    assert healthcheck, "the Dockerfile's HEALTHCHECK"
    interval, timeout, retries = map(int, healthcheck.groups())
    assert plan.swarm_update_monitor >= interval * retries + timeout
    # Room for every worker up to reload-on-rss before the memory limit.
    reload_on_rss_mb = int(ini_option(project / "ops/uwsgi.ini", "reload-on-rss"))
    memory = int(deploy["resources"]["limits"]["memory"])
    assert memory >= plan.replica_workers * reload_on_rss_mb * 1024 * 1024
    assert deploy["resources"]["limits"]["cpus"] == "1"

    # The settings (all of .env) and the secret key as files of the app's user only, the
    # settings where the image's CMD reads them, made from .env under a name that follows
    # its content (SETTINGS_VERSION); nothing for nginx (which has no secret without https).
    uid = str(plan.app_uid)
    secrets = {secret["source"]: secret for secret in app["secrets"]}
    assert list(secrets) == ["settings", "secret_key"]
    for secret in secrets.values():
        assert (secret["uid"], secret["gid"], secret["mode"]) == (uid, uid, 0o400)
    assert f"/run/secrets/{secrets['settings']['target']}" == settings_file(project / "Dockerfile")
    assert stack["secrets"]["settings"] == {
        "name": "flask_service_settings_0123456789ab",
        "file": str(project / ".env"),
    }
    assert "secrets" not in nginx and "env_file" not in nginx
    assert app["environment"]["SECRET_KEY_FILE"] == "/run/secrets/secret_key"
    assert secrets["secret_key"]["target"] == "secret_key"
    assert stack["secrets"]["secret_key"] == {
        "name": "flask_service_secret_key",
        "external": True,
    }
    assert nginx["ports"] == [
        {
            "mode": "host",
            "target": plan.nginx_port,
            "published": plan.answers["http_port"],
        }
    ]
    assert nginx["deploy"]["mode"] == "global"
    assert nginx["deploy"]["update_config"]["order"] == "stop-first"
    assert stack["networks"]["default"]["attachable"] is True


def test_the_settings_secret_is_named_after_the_content_of_env(bake_fresh: Bake) -> None:
    """The Makefile's SETTINGS_VERSION follows .env's content, so a changed .env is a new
    secret; the stack refuses to deploy without one (no .env)."""
    project = bake_fresh()

    def settings_version() -> str:
        rule = "print-settings-version: ; @echo $(SETTINGS_VERSION)"
        command = ["make", "--no-print-directory", "--eval", rule, "print-settings-version"]
        return run(command, cwd=project).stdout.strip()

    first = settings_version()
    assert re.fullmatch(r"[0-9a-f]{12}", first) and first == env_hash(project)
    write_env(project, {"GREETING": GREETING})
    assert settings_version() == env_hash(project) != first
    (project / ".env").unlink()
    assert settings_version() == ""
    env = {**os.environ, "STACK": "s", "STACK_APP_IMAGE": "a:1", "STACK_NGINX_IMAGE": "n:1"}
    with pytest.raises(AssertionError, match=r"the hash of \.env, set by the Makefile"):
        run(["docker", "stack", "config", "--compose-file", STACK_FILE], cwd=project, env=env)


@pytest.mark.parametrize("server", ["nginx-uwsgi", "nginx-http"])
def test_the_stack_serves_https_with_the_certificate_as_secrets(bake: Bake, server: str) -> None:
    """https=yes: certs/ as two swarm secrets, versioned (a secret cannot change), mounted
    where compose mounts the files, the key for nginx's uid only; HTTPS_PORT published
    as HTTP_PORT is, and given to nginx for its redirect."""
    project = bake(server=server, https=True)
    plan = Plan.defaults(server=server, https=True)
    stack = stack_config(project)
    nginx = stack["services"]["nginx"]
    certs_dir = plan.certs_dir
    assert nginx["secrets"] == [
        {"source": "tls_cert", "target": f"{certs_dir}/cert.pem"},
        {
            "source": "tls_key",
            "target": f"{certs_dir}/key.pem",
            "uid": str(plan.nginx_uid),
            "gid": str(plan.nginx_uid),
            "mode": 0o400,
        },
    ]
    for name in ("cert", "key"):
        assert stack["secrets"][f"tls_{name}"] == {
            "name": f"flask_service_tls_{name}_1",
            "file": str(project / "certs" / f"{name}.pem"),
        }
    compose = compose_config(project)["nginx"]
    [certs] = [volume for volume in compose["volumes"] if volume["type"] == "bind"]
    assert (certs["target"], certs["read_only"]) == (certs_dir, True)
    assert nginx["ports"] == [
        {"mode": "host", "target": plan.nginx_port, "published": plan.answers["http_port"]},
        {"mode": "host", "target": plan.nginx_https_port, "published": plan.https_port},
    ]
    assert nginx["environment"]["HTTPS_PORT"] == str(plan.https_port)
    assert compose["environment"]["HTTPS_PORT"] == str(plan.https_port)
