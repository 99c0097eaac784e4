"""The Docker files, checked without Docker: everything they reference exists, and the
compose topology (demo origin, two proxy replicas, nginx round-robin, PostgreSQL) runs
as the same processes with the same commands and config files on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import AsyncIterator
from ipaddress import ip_address, ip_network
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web
from packaging.requirements import Requirement

from consentproxy import server
from consentproxy.cli import build_parser
from consentproxy.config import load_config
from consentproxy.engine import FORWARDING
from tests.adapters import free_port, until_up
from tests.conftest import ROOT

DOCKER = ROOT / "docker"
COMPOSE = yaml.safe_load((DOCKER / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
BUILT = {name: s for name, s in SERVICES.items() if "build" in s}
SECRET = "compose-test-secret-0123456789abcdef"  # (the tests'; compose.yaml has none)
LB_ADDRESS = SERVICES["lb"]["networks"]["default"]["ipv4_address"]


def test_compose_builds_the_dockerfile_and_mounts_files_that_exist():
    for name, service in BUILT.items():
        context = DOCKER / service["build"]["context"]
        assert (context / service["build"]["dockerfile"]).is_file(), name
        build_parser().parse_args(service["command"])  # a command and options that exist
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            assert (DOCKER / source).is_file(), (name, source)
            if target == "/etc/consentproxy/config.yaml":
                assert load_config(DOCKER / source).upstream  # a config that loads
    # No default secret: compose.yaml's own, published, signed anyone's consent cookie
    secret = SERVICES["proxy1"]["environment"]["CONSENTPROXY_SECRET"]
    assert re.fullmatch(r"\$\{CONSENTPROXY_SECRET:\?[^}]+\}", secret), secret


def test_dockerfile_copies_what_exists_and_checks_the_health_endpoint():
    text = (DOCKER / "Dockerfile").read_text()
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.MULTILINE):
        for source in line.split()[:-1]:
            assert (ROOT / source).exists(), source
    # the health check reads the config serve runs with (its port and prefix)
    check = json.loads(re.search(r"HEALTHCHECK[^\n]*\n\s*CMD (.+)", text)[1])
    cmd = yaml.safe_load(re.search(r"^CMD (.+)$", text, re.MULTILINE)[1])
    assert check[0] == "consentproxy" and check[-2:] == cmd[-2:] == ["--config", check[-1]]
    build_parser().parse_args(check[1:])
    # The check loads the whole config, ~0.4 s of CPU: its 3 s timeout failed a healthy
    # container on a loaded host
    times = dict(re.findall(r"--(interval|timeout|start-period)=(\d+)s", text))
    assert int(times["timeout"]) >= 10 and int(times["interval"]) >= int(times["timeout"])
    # numeric, the ids of the user it makes (a name: runAsNonRoot cannot tell it is not root)
    uid, gid = re.search(r"^USER (\d+):(\d+)$", text, re.MULTILINE).groups()
    assert uid != "0" and f"--uid {uid} --gid {gid}" in text and f"--gid {gid} " in text
    cmd = yaml.safe_load(re.search(r"^CMD (.+)$", text, re.MULTILINE)[1])
    build_parser().parse_args(cmd)
    assert 'consentproxy = "consentproxy.__main__:main"' in (ROOT / "pyproject.toml").read_text()
    # The extras it installs exist, uvloop among them (serve runs on it when installed: the
    # event loop bench/RESULTS.md measures)
    extras = re.search(r"pip wheel .* '\.\[([a-z,]+)\]'", text)[1].split(",")
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(extras) <= set(optional["optional-dependencies"]) and "uvloop" in extras


def test_the_replicas_trust_the_load_balancer_and_nothing_else():
    subnet = ip_network(COMPOSE["networks"]["default"]["ipam"]["config"][0]["subnet"])
    assert ip_address(LB_ADDRESS) in subnet
    trusted = load_config(DOCKER / "proxy.yaml").trusted_proxies
    assert [str(n) for n in trusted] == [f"{LB_ADDRESS}/32"]


def test_the_load_balancer_points_at_the_proxy_replicas():
    conf = (DOCKER / "nginx-lb.conf").read_text()
    port = load_config(DOCKER / "proxy.yaml").listen_port
    replicas = [n for n, s in BUILT.items() if s["command"][0] == "serve"]
    assert sorted(re.findall(r"server (\S+):(\d+);", conf)) == [
        (r, str(port)) for r in sorted(replicas)
    ]


async def start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *args,
        env={**os.environ, "CONSENTPROXY_SECRET": SECRET},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


@contextlib.asynccontextmanager
async def compose_topology(
    postgres_dsn: str, tmp_path: Path, origin: int | None = None
) -> AsyncIterator[dict[str, str]]:
    """origin, proxy1, proxy2 and lb as compose runs them, each on a loopback port (the
    origin: compose's command, or the app already listening on port `origin`)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.fail("nginx is missing: run `make services`")
    ports = {name: free_port() for name in ("origin", "proxy1", "proxy2", "lb")}
    cli = [sys.executable, "-m", "consentproxy"]
    procs = []
    if origin is None:
        origin_cmd = [
            a.replace("0.0.0.0:8080", f"127.0.0.1:{ports['origin']}")
            for a in SERVICES["origin"]["command"]
        ]
        procs.append(await start(*cli, *origin_cmd))
    else:
        ports["origin"] = origin
    for name in ("proxy1", "proxy2"):
        config = (DOCKER / "proxy.yaml").read_text()
        config = (
            config.replace("http://origin:8080", f"http://127.0.0.1:{ports['origin']}")
            .replace("postgresql://consent:consent@db/consent", postgres_dsn)
            .replace("0.0.0.0:8000", f"127.0.0.1:{ports[name]}")
            .replace("0.0.0.0:9100", f"127.0.0.1:{free_port()}")
            .replace(LB_ADDRESS, "127.0.0.1")
        )
        (tmp_path / f"{name}.yaml").write_text(config)
        command = [
            a.replace("/etc/consentproxy/config.yaml", str(tmp_path / f"{name}.yaml"))
            for a in SERVICES[name]["command"]
        ]
        procs.append(await start(*cli, *command))
    lb = (
        (DOCKER / "nginx-lb.conf")
        .read_text()
        .replace("listen 80;", f"listen 127.0.0.1:{ports['lb']};")
    )
    for name in ("proxy1", "proxy2"):
        lb = lb.replace(f"{name}:8000", f"127.0.0.1:{ports[name]}")
    (tmp_path / "default.conf").write_text(lb)
    temp = " ".join(
        f"{k}_temp_path {tmp_path}/{k};"
        for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # (as root, nginx's workers are nobody, who cannot reach tmp_path's temp files: an
    # upload nginx spools to client_body was a 500)
    user = "user root root; " if os.geteuid() == 0 else ""
    (tmp_path / "nginx.conf").write_text(
        f"{user}pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log; events {{}} "
        f"http {{ access_log off; {temp} include {tmp_path}/default.conf; }}"
    )
    procs.append(
        await start(
            nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"
        )
    )
    try:
        for name in ("proxy1", "proxy2"):
            await until_up(f"http://127.0.0.1:{ports[name]}/.consent/healthz")
        await until_up(f"http://127.0.0.1:{ports['lb']}/.consent/healthz")
        yield {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
            await asyncio.wait_for(proc.wait(), 20)


@pytest.fixture
async def topology(postgres_dsn: str, tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    async with compose_topology(postgres_dsn, tmp_path) as urls:
        yield urls


async def test_compose_topology_two_replicas_behave_as_one(topology: dict[str, str]) -> None:
    lb = topology["lb"]
    async with aiohttp.ClientSession() as client:
        async with client.get(lb + "/") as resp:
            page = await resp.text()
        assert resp.status == 200 and 'id="consentproxy"' in page and "Garage Dupont" in page
        async with client.post(
            lb + "/.consent/choice", json={"action": "reject-all"}, headers={"Origin": lb}
        ) as resp:
            assert resp.status == 200
            cookie = resp.headers["Set-Cookie"].split(";")[0]
        # Either replica honours the cookie the other signed, and reads the shared records.
        for name in ("proxy1", "proxy2"):
            for _ in range(100):
                async with client.get(
                    topology[name] + "/.consent/me", headers={"Cookie": cookie}
                ) as resp:
                    body = await resp.json() if resp.status == 200 else {"records": []}
                if body["records"]:
                    break
                await asyncio.sleep(0.05)
            assert [r["action"] for r in body["records"]] == ["reject-all"], name
            async with client.get(
                topology[name] + "/.consent/state", headers={"Cookie": cookie}
            ) as resp:
                assert (await resp.json())["decided"] is True


# What a visitor may forge for the origin to take as the front proxy's word: every name the
# proxy drops from anyone it does not trust, the X-Forwarded-* in use and the country headers.
FORGED = sorted(
    {
        *FORWARDING,
        *(f"x-forwarded-{n}" for n in ("for", "port", "prefix", "ssl", "uri", "path", "server")),
        *("x-forwarded-scheme", "x-forwarded-protocol", "x-forwarded-by"),
        *("x-forwarded-client-cert", "cf-ipcountry", "cf-region-code"),
        *("cloudfront-viewer-country", "cloudfront-viewer-country-region"),
    }
)
FORGERY = "6.6.6.6"


async def test_the_load_balancer_passes_none_of_a_visitors_forwarding_headers_on(
    postgres_dsn: str, tmp_path: Path
) -> None:
    """The replicas trust the load balancer, which passed a visitor's X-Real-IP, Forwarded,
    X-Original-URL, CF-IPCountry... on, and its forged X-Forwarded-For first: the origin took
    them as the proxy's word. And nginx's 1 MB default refused a 2 MB upload (a 413)."""
    seen: list[tuple[list[tuple[str, str]], int]] = []

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        if request.method != "HEAD":  # (not serve's probe of its upstream as it starts)
            seen.append(([(k.lower(), v) for k, v in request.headers.items()], len(body)))
        return web.Response(text="ok")

    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    origin = free_port()
    await web.TCPSite(runner, "127.0.0.1", origin).start()
    try:
        async with (
            compose_topology(postgres_dsn, tmp_path, origin) as urls,
            aiohttp.ClientSession() as client,
        ):
            forged = {name: FORGERY for name in FORGED}
            forged["X_Real_IP"] = FORGERY  # (CGI and PHP read it as X-Real-IP)
            async with client.get(urls["lb"] + "/page", headers=forged) as resp:
                assert resp.status == 200
            ((headers, _),) = seen
            assert not [kv for kv in headers if FORGERY in kv[1]], headers
            assert ("x-real-ip", "127.0.0.1") in headers
            (forwarded_for,) = [v for k, v in headers if k == "x-forwarded-for"]
            assert {a.strip() for a in forwarded_for.split(",")} == {"127.0.0.1"}
            upload = b"x" * (2 * 1024 * 1024)
            async with client.post(urls["lb"] + "/upload", data=upload) as resp:
                assert resp.status == 200, resp.status
            assert seen[1][1] == len(upload)
    finally:
        await runner.cleanup()


def test_the_tls_front_clears_every_forwarding_header_the_proxy_drops():
    """deploy/nginx-tls.conf passed the visitor's forwarding headers on to a proxy that
    trusts it (see the load balancer's test above): every one is cleared or set by nginx."""
    for conf in (ROOT / "deploy" / "nginx-tls.conf", DOCKER / "nginx-lb.conf"):
        text = conf.read_text()
        set_here = {
            name.lower(): value
            for name, value in re.findall(r"proxy_set_header\s+(\S+)\s+(\S+);", text)
        }
        missing = [n for n in FORGED if n not in set_here]
        assert not missing, (conf.name, missing)
        assert set_here["x-forwarded-for"] == set_here["x-real-ip"] == "$remote_addr"
        assert not re.search(r"underscores_in_headers\s+on", text)  # (X_Real_IP dropped)


def test_the_nginx_fronts_take_uploads_and_wait_longer_than_serve():
    """nginx-tls.conf set no client_max_body_size (nginx's 1 MB refused a 2 MB upload with
    a 413, while serve streams any size on) and waited 60 s for serve, as long as serve
    waits for the origin: the visitor got nginx's 504, not the proxy's own answer."""
    for conf in (ROOT / "deploy" / "nginx-tls.conf", DOCKER / "nginx-lb.conf"):
        text = conf.read_text()
        assert re.search(r"^\s*client_max_body_size 0;", text, re.MULTILINE), conf.name
        wait = re.search(r"^\s*proxy_read_timeout (\d+)s;", text, re.MULTILINE)
        assert wait and int(wait[1]) > server.READ_TIMEOUT, conf.name
        assert re.search(r"^\s*server_tokens off;", text, re.MULTILINE), conf.name
    tls = (ROOT / "deploy" / "nginx-tls.conf").read_text()
    assert re.search(r"^\s*ssl_protocols TLSv1\.2 TLSv1\.3;", tls, re.MULTILINE)


def test_the_tls_front_of_deploy_is_a_config_nginx_accepts(tmp_path: Path):
    """deploy/nginx-tls.conf raised proxy_buffer_size alone, past the busy buffers' bound:
    nginx refused to start with it."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.fail("nginx is missing: run `make services`")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-subj", "/CN=www.example.com", "-days", "1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    site = (ROOT / "deploy" / "nginx-tls.conf").read_text()
    site = re.sub(r"ssl_certificate +\S+;", f"ssl_certificate {cert};", site)
    site = re.sub(r"ssl_certificate_key +\S+;", f"ssl_certificate_key {key};", site)
    site = re.sub(r"listen (\d+)", lambda m: f"listen 127.0.0.1:{free_port()}", site)
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log; events {{}} "
        f"http {{ access_log off; include {tmp_path}/site.conf; }}"
    )
    checked = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


def test_the_image_builds_the_rewriters_c_loop_from_what_it_copies(tmp_path: Path):
    """The image copied no setup.py (and had no compiler): its wheel held no C loop, and
    every page was rewritten 4-11x slower without a word. Nor the licence: an image is a
    redistribution, which Apache 2.0 asks to carry a copy of it."""
    text = (DOCKER / "Dockerfile").read_text()
    build = text.split("\nFROM ")[1]  # (the build stage)
    assert re.search(r"apt-get install [^\n]*\bgcc\b", build)
    for line in re.findall(r"^COPY (?!--from)(.+)$", build, re.MULTILINE):
        *sources, target = line.split()
        for source in sources:  # (COPY a b ./ puts them in ./; COPY src ./src is src)
            dest = tmp_path / target / (Path(source).name if target.endswith("/") else "")
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, dest, ignore=shutil.ignore_patterns("*.so"))
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(ROOT / source, dest)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", "out", "."],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "out").glob("consentproxy-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert [n for n in names if n.startswith("consentproxy/rewrite/_skip.") and n.endswith(".so")]
    # with the licence it is under, and the shipped data's sources and licences
    licence = next(n for n in names if n.endswith(".dist-info/licenses/LICENSE"))
    assert b"Apache License\n" in zipfile.ZipFile(wheel).read(licence)[:200]
    notices = {"open-cookie-database.NOTICE.txt", "trackers.NOTICE.txt"}
    assert notices <= {n.removeprefix("consentproxy/catalog/") for n in names}
    # and an image without it fails to build: the C loop imported once installed
    image = text.split("\nFROM ")[2]
    installed = image.index("pip install ")
    assert image.find("RUN python -c 'import consentproxy.rewrite._skip'") > installed


def test_the_systemd_unit_checks_a_reload_and_stops_serve_alone():
    """A reload of a config serve refuses said "reloaded" (kill -HUP succeeds whatever
    follows); KillMode's default sent SIGTERM to every worker as well as to serve, which
    passes its own on: a worker hearing two stopped at once, its requests cut."""
    unit = (ROOT / "deploy" / "consentproxy.service").read_text()
    settings = re.findall(r"^(\w+)=(.*)$", unit, re.MULTILINE)
    start = next(v for k, v in settings if k == "ExecStart").split()
    reload = [v.split() for k, v in settings if k == "ExecReload"]
    assert reload[0][0] == start[0] and reload[0][1] == "check-config"
    build_parser().parse_args(reload[0][1:])
    assert reload[0][2] == start[start.index("--config") + 1]
    assert reload[-1] == ["/bin/kill", "-HUP", "$MAINPID"]
    assert ("KillMode", "mixed") in settings and ("DynamicUser", "yes") in settings


def test_serve_is_given_more_than_its_shutdown_budget_and_restarted():
    """serve drains for SHUTDOWN_SECONDS, then writes the queued records for up to 10 s
    more: systemd's and compose's 20 s before SIGKILL was the whole of it, none to spare.
    A unit without RestartSec restarted a failing serve every 100 ms; compose never did."""
    budget = server.SHUTDOWN_SECONDS + 10  # (records.Records.close's timeout)
    text = (ROOT / "deploy" / "consentproxy.service").read_text()
    unit = dict(re.findall(r"^(\w+)=(.*)$", text, re.MULTILINE))
    assert int(unit["TimeoutStopSec"]) > budget and int(unit["RestartSec"]) >= 1
    for name, service in SERVICES.items():
        assert service.get("restart") == "unless-stopped", name
        if service.get("command", [""])[0] == "serve":
            assert int(service["stop_grace_period"].removesuffix("s")) > budget, name
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"`TimeoutStopSec={unit['TimeoutStopSec']}`" in readme


def test_the_deployment_installs_from_a_checkout_not_from_pypi():
    """The systemd unit said `pip install 'consentproxy[postgres,uvloop]'`: consentproxy is
    not on PyPI, so that installs whoever took the name there, or fails."""
    unit = (ROOT / "deploy" / "consentproxy.service").read_text()
    readme = " ".join((ROOT / "README.md").read_text().split())
    installs = re.findall(r"pip install '([^']+)'", unit)
    assert installs
    for target in installs:
        assert target.startswith("/") and target.endswith("[postgres,uvloop]"), target
        assert f"pip install '{target}'" in readme
    for text in (unit, readme, (DOCKER / "README.md").read_text()):
        assert not re.search(r"pip\s+install\s+['\"]?consentproxy\b", text)


def test_the_dependencies_whose_internals_are_used_are_bounded_to_the_tested_ones():
    """server.py patches aiohttp's internals, addons/consent.py reads a private mitmproxy
    module: aiohttp>=3.11 and mitmproxy>=12 let any later release in, internals changed."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [
        Requirement(r)
        for r in [*project["dependencies"], *project["optional-dependencies"]["mitmproxy"]]
    ]
    for name in ("aiohttp", "mitmproxy"):
        (req,) = [r for r in requirements if r.name == name]
        assert [s for s in req.specifier if s.operator in ("<", "<=", "==", "~=")], req
        assert req.specifier.contains(importlib.metadata.version(name)), req


def _docker_ignores(pattern: list[str], path: list[str]) -> bool:
    """Whether a .dockerignore pattern matches a path, both split on /, as Docker does: `*`
    within one component, `**` any number of them."""
    if not pattern:
        return not path
    if pattern[0] == "**":
        return any(_docker_ignores(pattern[1:], path[i:]) for i in range(len(path) + 1))
    return (
        bool(path)
        and fnmatch.fnmatchcase(path[0], pattern[0])
        and (_docker_ignores(pattern[1:], path[1:]))
    )


def test_the_build_context_leaves_the_checkouts_egg_info_out():
    """.dockerignore's `*.egg-info` matched at the top only: an editable install's
    src/consentproxy.egg-info went into the build (COPY src), stale SOURCES.txt and all."""
    patterns = [
        line.strip().split("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in ("src/consentproxy.egg-info", "consentproxy.egg-info"):
        assert any(_docker_ignores(p, path.split("/")) for p in patterns), path
    assert not any(_docker_ignores(p, ["src", "consentproxy"]) for p in patterns)
