import json
import os
import re
import socket
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consentproxy import runtime
from consentproxy.cli import main
from consentproxy.demo.origin import make_origin_app
from consentproxy.errors import UserError
from consentproxy.records import redacted
from tests.adapters import app_in_thread, free_port
from tests.conftest import DEMO_CONFIG, ROOT

GOOD = """\
upstream: http://127.0.0.1:8080
categories:
  necessary: {required: true}
  analytics: {}
services:
  - use: google-analytics
"""

_MONTH_AGO = datetime.now(UTC).date() - timedelta(30)


def test_check_config_explains_a_good_config(tmp_path, capsys):
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    assert main(["check-config", str(f)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "category analytics: google-analytics" in out


def checked(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> str:
    """What check-config prints of a config it passes."""
    f = tmp_path / "site.yaml"
    f.write_text(text)
    assert main(["check-config", str(f)]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("secret", "said"),
    [(" , ", "(set in this shell, but to no key: only spaces or commas)"), (None, "(not set")],
)
def test_check_config_tells_a_secret_set_to_no_key_from_one_not_set(
    tmp_path, capsys, monkeypatch, secret, said
):
    """A secret of spaces and commas was reported as not set in this shell."""
    if secret is None:
        monkeypatch.delenv("CONSENTPROXY_SECRET", raising=False)
    else:
        monkeypatch.setenv("CONSENTPROXY_SECRET", secret)
    assert f"signed with $CONSENTPROXY_SECRET {said}" in checked(tmp_path, capsys, GOOD)


def test_check_config_warns_once_of_banner_texts_for_a_language_not_offered(tmp_path, capsys):
    """banner.texts.de with languages [en, fr] was accepted silently: no visitor sees it.
    Then two sessions each added a warning of it, and check-config said it twice."""
    out = checked(tmp_path, capsys, GOOD + "banner:\n  texts: {de: {title: Cookies}}\n")
    said = [line for line in out.splitlines() if "banner.texts" in line]
    once = (
        "  warning: banner.texts.de is for a language not in languages (en, fr): no visitor "
        "sees it; add de to languages, or drop the texts"
    )
    assert said == [once]


def test_check_config_of_a_sites_only_config_names_no_listen_address(tmp_path, capsys):
    f = tmp_path / "site.yaml"
    f.write_text(GOOD.replace("upstream: http://127.0.0.1:8080", "sites: [myapp.test]"))
    assert main(["check-config", str(f)]) == 0
    out = capsys.readouterr().out
    assert "no upstream (sites only, for mitmproxy's forward mode)" in out
    assert "listening" not in out and "warning" not in out


def test_an_ipv6_listen_address_is_written_in_brackets(tmp_path, capsys, monkeypatch):
    """check-config said "listening on ::1:8000", and a taken port or an upstream that is the
    proxy itself was named "::1:PORT": which colon starts the port?"""
    out = checked(tmp_path, capsys, GOOD + 'listen: "[::1]:8000"\n')
    assert "listening on [::1]:8000," in out
    f = tmp_path / "loop.yaml"
    f.write_text(GOOD.replace("127.0.0.1:8080", "[::1]:8000") + 'listen: "[::1]:8000"\n')
    assert main(["check-config", str(f)]) == 2
    assert "is this proxy's own address (listen [::1]:8000)" in capsys.readouterr().err
    monkeypatch.setenv("CONSENTPROXY_SECRET", "s" * 32)
    with socket.socket(socket.AF_INET6) as taken:
        taken.bind(("::1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        serve = ["serve", "--config", str(tmp_path / "site.yaml"), "--listen", f"[::1]:{port}"]
        assert main(serve) == 2
    assert f"--listen [::1]:{port} cannot be bound" in capsys.readouterr().err


def test_check_config_warns_that_browsers_bypass_proxies_for_loopback_sites(tmp_path, capsys):
    f = tmp_path / "site.yaml"
    f.write_text(
        GOOD.replace(
            "upstream: http://127.0.0.1:8080",
            "sites: [localhost, app.localhost, 127.0.0.1, myapp.test]",
        )
    )
    assert main(["check-config", str(f)]) == 0
    out = capsys.readouterr().out
    assert (
        "warning: sites lists localhost, app.localhost, 127.0.0.1: browsers send loopback "
        "requests straight to the site, never through a proxy"
    ) in out
    assert "--proxy-bypass-list='<-loopback>'" in out


def test_check_config_error_names_file_line_and_fix(tmp_path, capsys):
    f = tmp_path / "site.yaml"
    f.write_text(GOOD.replace("use: google-analytics", "use: youtube"))
    assert main(["check-config", str(f)]) == 2
    err = capsys.readouterr().err
    assert f"{f}:6: service 'youtube' is in category 'social', which is not defined" in err


@pytest.mark.parametrize(
    "args",
    [["check-config", ""], ["check-config", "--config", ""], ["declaration", "--config", ""]],
)
def test_an_empty_config_file_name_is_refused_plainly(args, capsys):
    """check-config "" took the empty name for none and raised a TypeError (a traceback);
    elsewhere Path("") read the current directory."""
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "an empty file name; give the config file" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["serve", "--upstream", ""], "consentproxy: --upstream: an empty value; give a URL"),
        (["serve", "--listen", ""], "consentproxy: --listen: an empty value; give HOST:PORT"),
        (["declaration", "--lang", ""], "argument --lang: an empty value; give one of"),
        (["records", "export", "--since", ""], "argument --since: an empty value; give a date"),
        (["records", "stats", "--since", ""], "argument --since: an empty value; give a date"),
        (["scan", "http://x.test/", "--states", ""], "argument --states: an empty value"),
        (["scan", "http://x.test/", "--paths", ""], "argument --paths: an empty value"),
        (["scan", "http://x.test/", "--resolve", ""], "argument --resolve: an empty value"),
        (["demo", "--origin", ""], "argument --origin: an empty value; give HOST:PORT"),
    ],
)
def test_an_empty_value_given_to_an_option_is_refused_naming_it(tmp_path, capsys, args, says):
    """Each was taken for the option not given: serve --upstream "" served the file's
    upstream, --since "" every record, demo --origin "" the whole demo."""
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    argv = [*args[:-2], *(["--config", str(f)] if args[0] != "demo" else []), *args[-2:]]
    try:
        code = main(argv)
    except SystemExit as exited:
        code = exited.code
    assert code == 2 and says in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["catalog", "classify", ""], "argument COOKIE_OR_HOST: an empty value"),
        (["catalog", "update", "", "--into", "x.csv"], "argument file: an empty value"),
        (["catalog", "update", "o.csv", "--into", ""], "argument --into: an empty value"),
        (["catalog", "import", ""], "argument FILE: an empty value"),
        (["catalog", "import", "h.txt", "--into", ""], "argument --into: an empty value"),
        (["suggest", "--config", "site.yaml", ""], "argument REPORT_OR_LOG: an empty value"),
        (["records", "show", "", "--config", "site.yaml"], "argument consent_id: an empty"),
        (["records", "show", "--id=", "--config", "site.yaml"], "argument --id: an empty"),
        (["records", "erase", "--id=", "--config", "site.yaml"], "argument --id: an empty"),
        (["records", "show", "a", "--html", "", "--config", "site.yaml"], "--html: an empty"),
    ],
)
def test_an_empty_file_name_or_id_is_refused_naming_its_argument(
    tmp_path, capsys, monkeypatch, args, says
):
    """Each was taken as a name: catalog import "" and suggest "" said "cannot read  (Is a
    directory)", --into "" named ".", records erase --id= "erased 0 records of ", classify ""
    answered for a cookie with no name, and records show --html "" wrote no banner, unsaid."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "site.yaml").write_text(GOOD + "records: {path: r.sqlite3}\n")
    try:
        code = main(args)
    except SystemExit as exited:
        code = exited.code
    err = capsys.readouterr().err
    assert code == 2 and says in err, err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["check-config", "site.yaml", "--strict"],
            (
                "usage: consentproxy check-config [-h]",
                "unrecognized arguments: --strict; consentproxy check-config --help lists",
            ),
        ),
        (
            ["records", "export", "--config", "site.yaml", "--fromat=csv"],
            (
                "usage: consentproxy records export [-h]",
                "arguments: --fromat=csv (did you mean '--format'?); consentproxy records export",
            ),
        ),
        (
            ["serve", "--config", "site.yaml", "--listn", "127.0.0.1:8000"],
            (
                "usage: consentproxy serve [-h]",
                "arguments: --listn 127.0.0.1:8000 (did you mean '--listen'?);",
            ),
        ),
    ],
)
def test_an_argument_a_command_does_not_take_is_said_with_its_usage(tmp_path, capsys, args, says):
    """The top parser said it, with its own usage (serve, demo, ... {...}), naming no option
    of the command given nor the one meant."""
    with pytest.raises(SystemExit) as exited:
        main(args)
    err = " ".join(capsys.readouterr().err.split())
    assert exited.value.code == 2 and all(s in err for s in says), err


def test_ctrl_c_ends_a_command_by_sigint_and_no_traceback(tmp_path):
    """Ctrl-C while a command loads its config or reads a file (serve's start, a slow
    disk) printed a KeyboardInterrupt traceback of thirty lines. suggest reads a FIFO here:
    opening it for writing returns once the command has opened it, so the interrupt comes
    while it reads, whatever the machine's speed. The process ends by the signal, as Python
    ends on one nobody catches: a shell's loop around it stops (an exit with 130 reads as an
    interrupt handled, and bash went on to the loop's next command)."""
    import signal

    (tmp_path / "site.yaml").write_text(GOOD)
    fifo = tmp_path / "hosts"
    os.mkfifo(fifo)
    # (a handler here is SIG_DFL in the child, as from a terminal; a background job's
    # SIG_IGN would be inherited)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "consentproxy", "suggest", "--config", "site.yaml", str(fifo)],
            cwd=tmp_path,
            stderr=subprocess.PIPE,
        )
    finally:
        signal.signal(signal.SIGINT, before)
    with open(fifo, "w"):
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGINT and not err, err.decode()


@pytest.mark.parametrize(
    "args",
    [
        ["check-config", "site.yaml"],
        ["catalog", "list"],
        ["declaration", "--config", "site.yaml", "--format", "json"],
        ["records", "export", "--config", "site.yaml"],
    ],
)
def test_a_command_whose_reader_left_ends_by_sigpipe_and_says_nothing(tmp_path, args):
    """`check-config FILE | head -1` exited 1, as a failure: a shell with pipefail (or a
    script reading $PIPESTATUS) stopped on it. A command whose reader left ends as other
    tools do, by SIGPIPE (141 to a shell), quietly. The pipe's reading end is closed before
    the command starts: its first write finds no reader, whatever the machine's speed."""
    import asyncio
    import signal

    from consentproxy.records import SqliteStore
    from tests.test_records import NOW, record

    async def fill() -> None:
        store = SqliteStore(tmp_path / "r.sqlite3")
        await store.open()
        await store.write([record(f"id{i}", NOW) for i in range(2000)])
        await store.close()

    asyncio.run(fill())
    (tmp_path / "site.yaml").write_text(GOOD + "records: {path: r.sqlite3}\n")
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "consentproxy", *args],
            cwd=tmp_path,
            stdout=write,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)
    assert done.returncode == -signal.SIGPIPE and not done.stderr, done.stderr.decode()


@pytest.mark.parametrize("timeout", ["inf", "-1", "nan", "0", "1e300", "x"])
def test_healthcheck_refuses_a_timeout_that_is_not_a_positive_number_of_seconds(
    tmp_path, capsys, timeout
):
    """inf was an OverflowError and a traceback, -1 and nan 'did not answer'."""
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    with pytest.raises(SystemExit) as exited:
        main(["healthcheck", "--config", str(f), "--timeout", timeout])
    assert exited.value.code == 2
    assert f"argument --timeout: {timeout!r}: give seconds" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("records", "said"),
    [
        ("path: .", "records.path {d} is a directory; name a file in it, e.g. {d}/records.sqlite3"),
        ("path: /dev/null", "records.path /dev/null is no regular file; name a file of its own"),
        (
            "path: /proc/consentproxy-test/r.sqlite3",
            (
                "records.path /proc/consentproxy-test/r.sqlite3: the directory "
                "/proc/consentproxy-test does not exist; make it (writable by the user serve runs "
                "as), or fix the path\n"
            ),
        ),
        (
            "path: typo/r.sqlite3",
            (
                "records.path {d}/typo/r.sqlite3: the directory {d}/typo does not exist; make it "
                "(writable by the user serve runs as), or fix the path\n"
            ),
        ),
        (
            "path: app.sqlite3",
            (
                "records.path {d}/app.sqlite3 is not a consentproxy records store (it has tables: "
                "users); give records.path a file of its own"
            ),
        ),
        (
            "path: junk.bin",
            (
                "records.path {d}/junk.bin is not a SQLite file (file is not a database); give "
                "records.path a file of its own"
            ),
        ),
        (
            "dsn: 'postgresql://u:pw@127.0.0.1:1/db?sslmode=bogus'",
            (
                "records.dsn: sslmode=bogus is none of disable, allow, prefer, require, verify-ca, "
                "verify-full; fix the dsn"
            ),
        ),
        (
            "dsn: 'postgresql://u:pw@127.0.0.1:notaport/db'",
            "records.dsn: port 'notaport' is no port number (1-65535); fix the dsn",
        ),
    ],
)
def test_check_config_and_serve_refuse_a_records_store_that_can_never_open(
    tmp_path, capsys, monkeypatch, records, said
):
    """check-config said OK, and serve retried forever, for these; then said them with the
    file but not the line naming the store (every other config mistake has it)."""
    import sqlite3

    with sqlite3.connect(tmp_path / "app.sqlite3") as db:
        db.execute("CREATE TABLE users (a INTEGER)")
    (tmp_path / "junk.bin").write_bytes(b"not a database " * 300)
    monkeypatch.setenv("CONSENTPROXY_SECRET", "0123456789abcdef0123456789abcdef")
    f = tmp_path / "site.yaml"
    f.write_text(GOOD + f"records: {{{records}}}\n")
    for command in (["check-config", str(f)], ["serve", "--config", str(f)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"consentproxy: {f}:7: {said.format(d=tmp_path)}")
        assert err.count("\n") == 1 and "pw" not in err
        assert not (tmp_path / "typo").exists()  # (serve made it, and a store in it, unsaid)


def test_check_config_refuses_a_records_file_it_cannot_write(tmp_path, capsys):
    """(serve started and could never write to it); the reading commands still read it."""
    import asyncio

    from consentproxy.records import SqliteStore

    async def make() -> None:
        store = SqliteStore(tmp_path / "r.sqlite3")
        await store.open()
        await store.close()

    asyncio.run(make())
    f = tmp_path / "site.yaml"
    f.write_text(GOOD + "records: {path: r.sqlite3}\n")
    if subprocess.run(["chattr", "+i", str(tmp_path / "r.sqlite3")], check=False).returncode:
        pytest.skip("chattr +i needs root and a file system that has it")
    try:
        assert main(["check-config", str(f)]) == 2
        assert capsys.readouterr().err == (
            f"consentproxy: {f}:7: records.path {tmp_path / 'r.sqlite3'} is not readable and "
            "writable by this user; give it to the user serve runs as, or name another file\n"
        )
        assert main(["records", "export", "--config", str(f)]) == 0
    finally:
        subprocess.run(["chattr", "-i", str(tmp_path / "r.sqlite3")], check=True)


def test_check_config_accepts_a_records_server_that_is_down_now(tmp_path, capsys):
    """(serve retries it: not a mistake in the config)"""
    f = tmp_path / "site.yaml"
    f.write_text(GOOD + "records: {dsn: 'postgresql://u:pw@127.0.0.1:1/db?sslmode=disable'}\n")
    assert main(["check-config", str(f)]) == 0


def test_serve_refuses_to_start_without_a_secret(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CONSENTPROXY_SECRET", raising=False)
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    assert main(["serve", "--config", str(f)]) == 2
    assert "set CONSENTPROXY_SECRET" in capsys.readouterr().err


def test_serve_ignores_a_reload_asked_while_it_starts(tmp_path, capsys, monkeypatch):
    """HUP's default ends the process: a `systemctl reload` or a logrotate while serve built
    its engine killed it (with workers, the parent, leaving one serving alone)."""
    import signal

    from consentproxy import cli

    seen = []

    def engine_built(*args, **kwargs):
        seen.append(signal.getsignal(signal.SIGHUP))
        raise cli.UsageError("stop here")

    monkeypatch.setenv("CONSENTPROXY_SECRET", "s" * 32)
    monkeypatch.setattr(cli, "build_engine", engine_built)
    before = signal.getsignal(signal.SIGHUP)
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    try:
        assert main(["serve", "--config", str(f)]) == 2
    finally:
        signal.signal(signal.SIGHUP, before)
    assert seen == [signal.SIG_IGN]


@pytest.mark.parametrize("workers", ["0", "-3"])
def test_serve_refuses_no_workers(tmp_path, capsys, monkeypatch, workers):
    monkeypatch.setenv("CONSENTPROXY_SECRET", "s" * 32)
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    assert main(["serve", "--config", str(f), "--workers", workers]) == 2
    assert f"--workers {workers}: give 1 or more processes" in capsys.readouterr().err


def test_serve_refuses_more_workers_than_the_machine_can_use(tmp_path, capsys, monkeypatch):
    """A typo's --workers 10000 forked processes until the machine gave out."""
    forked = []
    monkeypatch.setenv("CONSENTPROXY_SECRET", "s" * 32)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    monkeypatch.setattr("consentproxy.runtime.workers", lambda n, _: forked.append(n) or 0)
    f = tmp_path / "site.yaml"
    f.write_text(GOOD + "listen: 127.0.0.1:9\n")  # (never bound: nothing is forked)
    assert main(["serve", "--config", str(f), "--workers", "9", "--share-port"]) == 2
    assert "--workers 9: give at most 8 (4 per CPU here)" in capsys.readouterr().err
    assert not forked


@pytest.mark.parametrize("option", ["--port", "--origin"])
def test_demo_names_its_own_option_for_a_port_taken(capsys, option):
    """--port was named as the demo config's listen (or --listen); --origin exited 1 with a
    bare bind error."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        value = str(port) if option == "--port" else f"127.0.0.1:{port}"
        assert main(["demo", option, value]) == 2
    assert (
        f"demo: {option} 127.0.0.1:{port} cannot be bound (Address already in use); stop what "
        f"listens there or give {option} another address"
    ) in capsys.readouterr().err


def test_demo_refuses_a_port_out_of_range_naming_port(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--port", "99999"])
    assert exited.value.code == 2
    assert "argument --port: '99999': give a port from 0 (any free one) to 65535" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("metrics", [65535, 0])
def test_serve_refuses_worker_metrics_ports_past_the_last(tmp_path, capsys, monkeypatch, metrics):
    """Worker i's metrics listen on port + i: 65535 + 1 bound a random port (65536 wraps to
    0), and port 0 put worker 1 on port 1; Prometheus could scrape neither."""
    forked = []
    monkeypatch.setenv("CONSENTPROXY_SECRET", "s" * 32)
    monkeypatch.setattr("consentproxy.runtime.workers", lambda n, _: forked.append(n) or 0)
    f = tmp_path / "site.yaml"
    f.write_text(GOOD + f"listen: 127.0.0.1:9\nmetrics: {{listen: '127.0.0.1:{metrics}'}}\n")
    assert main(["serve", "--config", str(f), "--workers", "2", "--share-port"]) == 2
    assert (
        f"metrics.listen 127.0.0.1:{metrics} with --workers 2: worker i listens on port + i; "
        "give metrics.listen a port from 1 to 65534"
    ) in capsys.readouterr().err
    assert not forked


def test_serve_refuses_worker_metrics_ports_taken_or_overlapping_listen(
    tmp_path, capsys, monkeypatch
):
    """Worker 1's metrics port was serve's own listen port, or one taken: each worker
    printed a traceback and serve exited 1."""
    forked = []
    monkeypatch.setenv("CONSENTPROXY_SECRET", "s" * 32)
    monkeypatch.setattr("consentproxy.runtime.workers", lambda n, _: forked.append(n) or 0)
    f = tmp_path / "site.yaml"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for listen, metrics, said in (
            (port + 5, port, f"metrics.listen 127.0.0.1:{port} cannot be bound"),
            (port, port - 1, f"worker i listens on port + i, and {port} is listen's"),
        ):
            f.write_text(
                GOOD + f"listen: 127.0.0.1:{listen}\nmetrics: {{listen: '127.0.0.1:{metrics}'}}\n"
            )
            assert main(["serve", "--config", str(f), "--workers", "2", "--share-port"]) == 2
            assert said in capsys.readouterr().err
    assert not forked


@pytest.mark.parametrize("workers", [1, 2])
def test_a_listen_address_given_by_flag_that_cannot_be_bound_names_the_flag(
    tmp_path, capsys, monkeypatch, workers
):
    """It named the config file's listen, which the operator had not written."""
    monkeypatch.setenv("CONSENTPROXY_SECRET", "s" * 32)
    monkeypatch.setattr("consentproxy.runtime.workers", lambda n, _: 0)
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        listen = ["--listen", f"127.0.0.1:{port}", "--workers", str(workers)]
        assert main(["serve", "--config", str(f), *listen]) == 2
    err = capsys.readouterr().err
    assert f"--listen 127.0.0.1:{port} cannot be bound" in err, err
    assert "give --listen another address" in err and "site.yaml" not in err


@pytest.mark.parametrize(
    "host, advice",
    [
        ("nohost.invalid", "nohost.invalid is no address of this machine; give --listen"),
        ("192.0.2.1", "192.0.2.1 is no address of this machine; give --listen"),
    ],
)
def test_a_listen_address_of_no_interface_says_so_rather_than_to_stop_a_listener(
    tmp_path, capsys, monkeypatch, host, advice
):
    """'stop what listens there' sent the operator looking for a process that was not."""
    monkeypatch.setenv("CONSENTPROXY_SECRET", "s" * 32)
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    assert main(["serve", "--config", str(f), "--listen", f"{host}:8000"]) == 2
    err = capsys.readouterr().err
    assert advice in err and "stop what listens" not in err, err


def test_a_worker_stopped_by_a_mistake_says_it_in_one_line_and_serve_exits_2(capfd):
    def serve(worker: int) -> None:
        raise UserError(f"site.yaml: something to fix ({worker})")

    assert runtime.workers(2, serve) == 2
    err = capfd.readouterr().err
    assert "consentproxy: worker 0: site.yaml: something to fix (0)" in err
    assert "Traceback" not in err


def test_check_config_refuses_the_short_secret_serve_would_refuse(tmp_path, capsys, monkeypatch):
    """It said OK with a secret serve refuses (helper-63); with none set, it checks the
    file alone (a machine without the secret may check it) and says so."""
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    monkeypatch.setenv("CONSENTPROXY_SECRET", "short")
    assert main(["check-config", str(f)]) == 2
    assert "CONSENTPROXY_SECRET holds a key shorter than 16" in capsys.readouterr().err
    monkeypatch.delenv("CONSENTPROXY_SECRET")
    assert main(["check-config", str(f)]) == 0
    assert "(not set in this shell)" in capsys.readouterr().out


def test_check_config_hides_a_password_in_the_upstream(tmp_path, capsys):
    f = tmp_path / "site.yaml"
    f.write_text(GOOD.replace("http://127.0.0.1", "http://admin:s3cret@127.0.0.1"))
    assert main(["check-config", str(f)]) == 0
    out = capsys.readouterr().out
    assert "http://admin:***@127.0.0.1:8080" in out and "s3cret" not in out


def test_serve_refuses_a_short_secret(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CONSENTPROXY_SECRET", "short")
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    assert main(["serve", "--config", str(f)]) == 2
    assert "shorter than" in capsys.readouterr().err


def test_serve_refuses_an_unknown_forced_state_naming_the_valid_ones(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CONSENTPROXY_SECRET", "s" * 32)
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    assert main(["serve", "--config", str(f), "--state", "analytics,ads"]) == 2
    err = capsys.readouterr().err
    assert "--state: 'ads' in 'analytics,ads' is no category or service" in err
    assert "(analytics)" in err and "google-analytics" in err


@pytest.mark.parametrize("state", ["", " "])
def test_serve_refuses_an_empty_forced_state(tmp_path, capsys, monkeypatch, state):
    """A QA script's `--state "$STATE"` with the variable unset must not quietly follow
    the visitor's cookie: `cookie` says that."""
    monkeypatch.setenv("CONSENTPROXY_SECRET", "s" * 32)
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    assert main(["serve", "--config", str(f), "--state", state]) == 2
    assert "--state is empty" in capsys.readouterr().err


def test_serve_without_upstream_says_how_to_give_one(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CONSENTPROXY_SECRET", "s" * 32)
    f = tmp_path / "site.yaml"
    f.write_text(GOOD.replace("upstream: http://127.0.0.1:8080", "sites: [www.example.com]"))
    assert main(["serve", "--config", str(f)]) == 2
    assert "pass --upstream URL" in capsys.readouterr().err


def test_check_config_warns_loudly_when_the_state_header_is_on(tmp_path, capsys):
    f = tmp_path / "site.yaml"
    f.write_text(GOOD + "testing: {state_header: true}\n")
    assert main(["check-config", str(f)]) == 0
    err = capsys.readouterr().err
    assert err.startswith("WARNING:") and "X-Consent-State" in err and "production" in err


@pytest.fixture
def serve_until_started(tmp_path, monkeypatch):
    """Runs `serve` on GOOD + extra up to where it would start serving (what it says first)."""

    class Started(Exception):
        pass

    def run(serving):
        serving.close()
        raise Started

    monkeypatch.setenv("CONSENTPROXY_SECRET", "s" * 32)
    monkeypatch.setattr("consentproxy.runtime.run", run)

    def serve(extra: str = "") -> None:
        f = tmp_path / "site.yaml"
        f.write_text(GOOD + extra)
        with pytest.raises(Started):
            main(["serve", "--config", str(f)])

    return serve


def test_serve_warns_when_the_state_header_is_on(serve_until_started, caplog):
    """check-config warned, serve said nothing: any visitor could pick their state."""
    serve_until_started("testing: {state_header: true}\n")
    assert "testing.state_header is on" in caplog.text and "in production" in caplog.text


def test_serve_says_what_check_config_warns_of(serve_until_started, caplog):
    """former_cmp.revision (new, 1 by default) under a raised consent.revision stopped the
    import on an upgrade, and only check-config said why."""
    serve_until_started(
        "consent: {revision: 2}\nformer_cmp: {tool: onetrust, import: {C0002: analytics}, "
        "until: 2026-01-01}\n"
    )
    assert "former_cmp imports nothing: consent.revision (2) is above" in caplog.text


def test_serve_warns_when_the_rewriters_c_loop_is_not_built(
    serve_until_started, caplog, monkeypatch
):
    """Installed without a compiler (the Docker image was: no setup.py, no gcc), pages were
    rewritten 4-11x slower and nothing said so."""
    for built in (True, False):
        monkeypatch.setattr("consentproxy.rewrite.scanner.C_LOOP", built)
        caplog.clear()
        serve_until_started()
        assert ("C loop is not built" in caplog.text) is not built


@pytest.mark.parametrize(
    ("listen", "url"),
    [("127.0.0.1:8000", "http://127.0.0.1:{port}/"), ("[::1]:8000", "http://[::1]:{port}/")],
)
def test_serve_says_where_it_listens_as_a_url(tmp_path, monkeypatch, listen, url):
    """An IPv6 address was printed without its brackets: http://::1:8000/ is no URL."""
    said = []

    def run(serving):
        said.append(serving.cr_frame.f_locals["banner"])
        serving.close()
        raise SystemExit(0)

    monkeypatch.setenv("CONSENTPROXY_SECRET", "s" * 32)
    monkeypatch.setattr("consentproxy.runtime.run", run)
    f = tmp_path / "site.yaml"
    f.write_text(GOOD + f"listen: '{listen}'\n")
    with pytest.raises(SystemExit):
        main(["serve", "--config", str(f)])
    assert said[0].startswith(f"consentproxy: {url} -> http://127.0.0.1:8080")


def test_the_version_and_check_config_with_config_as_elsewhere(tmp_path, capsys):
    """--version was "the following arguments are required: command"; check-config was the
    one command refusing --config FILE."""
    from importlib.metadata import version

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert (
        e.value.code == 0 and capsys.readouterr().out == f"consentproxy {version('consentproxy')}\n"
    )
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    assert main(["check-config", "--config", str(f)]) == 0
    assert capsys.readouterr().out.startswith(f"{f}: OK")
    assert main(["check-config"]) == 2
    assert "give one config file" in capsys.readouterr().err


def test_check_config_is_quiet_about_testing_by_default(tmp_path, capsys):
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    assert main(["check-config", str(f)]) == 0
    assert capsys.readouterr().err == ""


def test_serve_state_forces_the_state_for_every_visitor(tmp_path):
    with app_in_thread(make_origin_app(DEMO_CONFIG.parent / "pages")) as origin_port:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "consentproxy",
                "serve",
                "--config",
                str(DEMO_CONFIG),
                "--upstream",
                f"http://127.0.0.1:{origin_port}",
                "--listen",
                "127.0.0.1:0",
                "--state",
                "analytics",
            ],
            env={**os.environ, "CONSENTPROXY_SECRET": "s" * 32},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            m = re.search(r"http://127\.0\.0\.1:\d+/", proc.stdout.readline())
            assert m, "serve did not print its URL"
            request = urllib.request.Request(
                m.group() + "api/echo-cookies", headers={"Cookie": "_ga=1; _fbp=2; PHPSESSID=s"}
            )
            with urllib.request.urlopen(request, timeout=10) as resp:
                assert json.loads(resp.read())["cookies"] == {"_ga": "1", "PHPSESSID": "s"}
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_healthcheck_asks_serve_directly_whatever_proxy_the_environment_names(tmp_path):
    """urlopen honoured http_proxy, which Docker often puts in a container's environment:
    the check went through the proxy and failed a healthy serve."""
    port = free_port()
    config = tmp_path / "site.yaml"
    config.write_text(GOOD.replace("8080", str(free_port())) + f"listen: 127.0.0.1:{port}\n")
    env = {**os.environ, "CONSENTPROXY_SECRET": "s" * 32}
    proc = subprocess.Popen(
        [sys.executable, "-m", "consentproxy", "serve", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        check = [sys.executable, "-m", "consentproxy", "healthcheck", "--config", str(config)]
        for _ in range(200):
            if subprocess.run(check, env=env, check=False).returncode == 0:
                break
        else:
            pytest.fail("serve did not come up")
        for name in ("no_proxy", "NO_PROXY"):
            env.pop(name, None)
        proxied = {**env, "http_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
        done = subprocess.run(check, env=proxied, check=False, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_serve_without_the_minifier_says_what_to_install(tmp_path):
    """consent.js is minified in a child interpreter at start-up (banner/render.py): a
    Python without tdewolff-minify got a traceback."""
    (tmp_path / "minify.py").write_text("raise ImportError('No module named minify')\n")
    done = subprocess.run(
        [sys.executable, "-m", "consentproxy", "serve", "--config", str(DEMO_CONFIG)],
        env={**os.environ, "CONSENTPROXY_SECRET": "s" * 32, "PYTHONPATH": str(tmp_path)},
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "ImportError: No module named minify" in done.stderr
    assert "pip install 'tdewolff-minify" in done.stderr


def test_catalog_list_and_show_describe_the_builtin_services(capsys):
    assert main(["catalog", "list"]) == 0
    out = capsys.readouterr().out
    assert "youtube" in out and "Open Cookie Database" in out
    assert main(["catalog", "show", "matomo-cloud"]) == 0
    out = capsys.readouterr().out
    assert "retention:" in out and "_pk_id.*" in out and "embed:       script" in out
    assert main(["catalog", "show", "nope"]) == 2
    assert "catalog list" in capsys.readouterr().err
    assert main(["catalog", "show", "google-analytics"]) == 0  # (its domain holds www.)
    assert "domains:     google-analytics.com" in capsys.readouterr().out
    assert main(["catalog", "show", "youtub"]) == 2
    assert "(did you mean 'youtube'?)" in capsys.readouterr().err


def test_catalog_classify_answers_catalog_first_then_the_database(capsys):
    assert main(["catalog", "classify", "_ga_XYZ"]) == 0
    assert "service google-analytics (analytics)" in capsys.readouterr().out
    assert main(["catalog", "classify", "__insp_uid"]) == 0
    assert "Open Cookie Database: Inspectlet, Analytics -> analytics" in capsys.readouterr().out
    assert main(["catalog", "classify", "www.google.com/maps/embed?x"]) == 0
    assert "service google-maps (social)" in capsys.readouterr().out
    assert main(["catalog", "classify", "certainly_unknown_42"]) == 1


def test_catalog_update_writes_a_snapshot_from_the_upstream_csv(tmp_path, capsys):
    from tests.test_ocd import UPSTREAM

    src, dst = tmp_path / "open-cookie-database.csv", tmp_path / "snapshot.csv"
    src.write_text(UPSTREAM)
    assert main(["catalog", "update", str(src), "--into", str(dst)]) == 0
    assert "5 cookie names" in capsys.readouterr().out
    assert dst.read_text().startswith("Platform,Category,Cookie / Data Key name,")
    src.write_text("a,b\n1,2\n")
    assert main(["catalog", "update", str(src), "--into", str(dst)]) == 2
    assert "not an Open Cookie Database CSV" in capsys.readouterr().err


def test_catalog_update_never_writes_into_the_installed_package_unasked(
    tmp_path, capsys, monkeypatch
):
    """--into is required: a refresh lands where the operator said, not in site-packages."""
    from tests.test_ocd import UPSTREAM

    packaged = tmp_path / "packaged.csv"  # (stands for the package's file, were it written)
    monkeypatch.setattr("consentproxy.cli.DATABASE_FILE", packaged)
    src = tmp_path / "open-cookie-database.csv"
    src.write_text(UPSTREAM)
    with pytest.raises(SystemExit) as exited:
        main(["catalog", "update", str(src)])
    assert exited.value.code == 2 and "--into" in capsys.readouterr().err
    assert not packaged.exists()


def test_catalog_update_names_the_line_of_a_csv_that_is_not_utf8(tmp_path, capsys):
    """A download saved by a tool that re-encoded it: where, and what to do; no traceback."""
    from tests.test_ocd import UPSTREAM

    src, dst = tmp_path / "open-cookie-database.csv", tmp_path / "snapshot.csv"
    src.write_bytes(UPSTREAM.encode() + "Matomo,Analytics,caf\u00e9\n".encode("latin-1"))
    assert main(["catalog", "update", str(src), "--into", str(dst)]) == 2
    line = UPSTREAM.count("\n") + 1
    assert f"{src}:{line}: not UTF-8 (byte 0xe9); download open-cookie-database.csv again" in (
        capsys.readouterr().err
    )
    assert not dst.exists()


def test_catalog_update_reads_no_further_than_a_database_can_be(tmp_path, capsys):
    """/dev/zero (or a log given by mistake) was read whole: all memory, then a traceback.
    A pipe is still read (`catalog update <(curl ...)`), up to the limit."""
    from consentproxy.catalog.ocd import MAX_DATABASE_BYTES

    dst = tmp_path / "snapshot.csv"
    assert main(["catalog", "update", "/dev/zero", "--into", str(dst)]) == 2
    assert f"/dev/zero: more than {MAX_DATABASE_BYTES >> 20} MiB, which no cookie database is" in (
        capsys.readouterr().err
    )
    assert not dst.exists()


@pytest.mark.parametrize("command", ["update", "import"])
def test_catalog_commands_name_an_into_they_cannot_write(tmp_path, capsys, command):
    """A usage error naming the path and the option (exit 2), not a bare strerror (exit 1)."""
    from tests.test_ocd import UPSTREAM

    src = tmp_path / "list.txt"
    src.write_text(UPSTREAM if command == "update" else "0.0.0.0 ads.example.com\n")
    (tmp_path / "file").write_text("")
    into = tmp_path / "file" / "out"  # (a file where a directory should be: even root fails)
    assert main(["catalog", command, str(src), "--into", str(into)]) == 2
    assert f"cannot write {into} (Not a directory); give --into a path this user can" in (
        capsys.readouterr().err
    )


def test_scan_names_an_out_it_cannot_write_before_scanning(tmp_path, capsys):
    """(FileExistsError: a bare 'File exists', exit 1; a read-only --out failed only once
    the scan was done, its report lost)"""
    f, out = tmp_path / "site.yaml", tmp_path / "report"
    f.write_text(GOOD)
    out.write_text("")
    argv = ["scan", "http://127.0.0.1:9/", "--config", str(f), "--out", str(out), "--direct"]
    assert main([*argv, "--chromium", str(tmp_path / "never-started")]) == 2
    assert f"cannot write {out} (a file is there, not a directory); give --out a path" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--wait", "nan", "seconds from 0 to 600"),  # (a ValueError traceback)
        ("--wait", "-1", "seconds from 0 to 600"),
        ("--wait", "1e300", "seconds from 0 to 600"),  # (each page watched for ever)
        ("--crawl", "-5", "0 or more links"),  # (all the page's links but the last 5)
    ],
)
def test_scan_refuses_a_wait_or_crawl_out_of_range(tmp_path, capsys, option, value, expected):
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    argv = ["scan", "http://127.0.0.1:9/", "--config", str(f), "--out", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as exited:
        main([*argv, option, value, "--chromium", str(tmp_path / "never-started")])
    assert exited.value.code == 2
    assert f"argument {option}: {value!r}: give {expected}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["http://u:s3cret@127.0.0.1:99999/"],  # (no valid port)
        ["http://u:s3cret@127.0.0.1:8080/", "--resolve", "127.0.0.1"],  # (an address already)
        ["http://u:s3cret@127.0.0.1:8080/", "--paths", "http://u:s3cret@other.example/"],
        ["http://u:s3cret@127.0.0.1:8080/", "--crawl", "http://u:s3cret@127.0.0.1:8080/"],
        ["http://u:s3cret@127.0.0.1:8080/", "http://u:s3cret@127.0.0.1:8081/"],  # (unrecognized)
        ["ftp://u:s3cret@127.0.0.1/"],  # (no http:// URL)
    ],
)
def test_scan_hides_the_password_of_a_url_in_its_usage_errors(tmp_path, capsys, args):
    """A staging site's user:password, hidden in the report, was printed whole by the usage
    errors that repeat the URL or a value given (argparse's too), into the terminal's and a
    CI job's log."""
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    argv = ["scan", *args, "--config", str(f), "--out", str(tmp_path / "o")]
    try:
        code = main([*argv, "--chromium", str(tmp_path / "never-started")])
    except SystemExit as exited:
        code = exited.code
    err = capsys.readouterr().err
    assert code == 2 and "s3cret" not in err, err
    assert "u:***@" in err, err


@pytest.mark.parametrize("password", ["s3/cret", "s3?cret", "s3#cret", "s3 cret"])
@pytest.mark.parametrize("where", ["url", "--crawl"])
def test_scan_hides_a_password_no_url_parser_reads_whole(tmp_path, capsys, password, where):
    """A '/', '?', '#' or space in the password ended the password's pattern, so
    `scan http://u:pa/ss@127.0.0.1:8080/` printed "'http://u:pa/ss@...' has no valid port"
    (`pa ss`: "the site at ... does not answer"), and argparse's error the --crawl value whole."""
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    url = f"http://u:{password}@127.0.0.1:1/"
    given = [url] if where == "url" else ["http://127.0.0.1:1/", "--crawl", url]
    argv = ["scan", *given, "--config", str(f), "--out", str(tmp_path / "o"), "--direct"]
    try:
        code = main([*argv, "--chromium", str(tmp_path / "never-started")])
    except SystemExit as exited:
        code = exited.code
    err = capsys.readouterr().err
    assert code == 2 and password not in err and "u:***@" in err, err


def test_check_config_of_a_missing_file_names_its_own_argument(tmp_path, capsys):
    """(it said to check the path given to --config, an option check-config lacks)"""
    assert main(["check-config", str(tmp_path / "site.yaml")]) == 2
    assert "(No such file or directory); check the path given to check-config" in (
        capsys.readouterr().err
    )


def test_check_config_prints_warnings(tmp_path, capsys):
    f = tmp_path / "site.yaml"
    f.write_text(GOOD + "unknown_cookies: allow\n")
    assert main(["check-config", str(f)]) == 0
    assert "warning: unknown_cookies: allow" in capsys.readouterr().out


def test_records_export_show_and_purge(tmp_path, capsys):
    import asyncio

    from consentproxy.records import SqliteStore
    from tests.test_records import NOW, record

    async def fill() -> None:
        store = SqliteStore(tmp_path / "r.sqlite3")
        await store.open()
        await store.write([record("old", 1_000_000_000), record("abc", NOW)])
        await store.close()

    asyncio.run(fill())
    f = tmp_path / "site.yaml"
    f.write_text(GOOD + "records: {path: r.sqlite3}\n")
    assert main(["records", "export", "--config", str(f)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["consent_id"] for r in lines] == ["old", "abc"]
    assert (
        main(["records", "export", "--config", str(f), "--format", "csv", "--since", "2020-01-01"])
        == 0
    )
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].startswith("consent_id,decided_at") and len(rows) == 2
    assert main(["records", "show", "abc", "--config", str(f)]) == 0
    assert json.loads(capsys.readouterr().out)["granted_services"] == ["youtube"]
    assert main(["records", "purge", "--config", str(f)]) == 0
    assert "purged 1 records" in capsys.readouterr().out
    assert main(["records", "show", "old", "--config", str(f)]) == 1
    f.write_text(GOOD)
    assert main(["records", "export", "--config", str(f)]) == 2
    assert "keeps no records" in capsys.readouterr().err


def test_records_export_writes_each_record_as_before(tmp_path, capsys):
    """(Each is now written as it is read, not once all are.)"""
    import asyncio

    from consentproxy.records import SqliteStore
    from tests.test_records import NOW, record

    async def fill() -> None:
        store = SqliteStore(tmp_path / "r.sqlite3")
        await store.open()
        await store.write([record("abc", NOW, user_agent='Firefox "133", caf\u00e9')])
        await store.close()

    asyncio.run(fill())
    f = tmp_path / "site.yaml"
    f.write_text(GOOD + "records: {path: r.sqlite3}\n")
    assert main(["records", "export", "--config", str(f), "--format", "csv"]) == 0
    assert capsys.readouterr().out == (
        "consent_id,decided_at,revision,config_digest,action,method,granted_categories,"
        "refused_categories,granted_services,refused_services,withdrawal,gpc,user_agent,"
        "language,shown_digest,outcome\r\n"
        "abc,1800000000,1,d1,save,preferences,analytics,social,youtube,vimeo,False,False,"
        '"Firefox ""133"", caf\u00e9",,,\r\n'
    )
    assert main(["records", "export", "--config", str(f)]) == 0
    assert capsys.readouterr().out == (
        '{"consent_id": "abc", "decided_at": 1800000000, "revision": 1, "config_digest": '
        '"d1", "action": "save", "method": "preferences", "granted_categories": ["analytics"], '
        '"refused_categories": ["social"], "granted_services": ["youtube"], "refused_services": '
        '["vimeo"], "withdrawal": false, "gpc": false, "user_agent": "Firefox \\"133\\", '
        'caf\u00e9", "language": "", "shown_digest": "", "outcome": ""}\n'
    )


def config_with_records(tmp_path: Path, *consent_ids: str) -> Path:
    """A config whose SQLite store holds a record of each id."""
    import asyncio

    from consentproxy.records import SqliteStore
    from tests.test_records import NOW, record

    async def fill() -> None:
        store = SqliteStore(tmp_path / "r.sqlite3")
        await store.open()
        await store.write([record(i, NOW) for i in consent_ids])
        await store.close()

    asyncio.run(fill())
    f = tmp_path / "site.yaml"
    f.write_text(GOOD + "records: {path: r.sqlite3}\n")
    return f


def test_records_show_names_an_html_directory_it_cannot_make(tmp_path, capsys):
    f = config_with_records(tmp_path, "abc")
    html = tmp_path / "shown.html"
    html.write_text("")
    assert main(["records", "show", "abc", "--config", str(f), "--html", str(html)]) == 2
    assert f"cannot write {html} (a file is there, not a directory); give --html" in (
        capsys.readouterr().err
    )


def test_records_erase_takes_one_visitor_s_records_away(tmp_path, capsys):
    """A visitor's erasure asked by e-mail (their cookie expired, or another browser): the
    operator had no command for it."""
    f = config_with_records(tmp_path, "abc", "-1bzzGJ5ykuqAwHK", "keep")
    assert main(["records", "erase", "abc", "--config", str(f)]) == 0
    assert main(["records", "erase", "--config", str(f), "--id=-1bzzGJ5ykuqAwHK"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "erased 1 records of abc",
        "erased 1 records of -1bzzGJ5ykuqAwHK",
    ]
    assert main(["records", "erase", "abc", "--config", str(f)]) == 1  # (nothing left)
    assert main(["records", "show", "abc", "--config", str(f)]) == 1
    said = capsys.readouterr()  # (as show says it: on stderr, nothing on stdout to read as done)
    assert (said.out, said.err) == ("", "no records for abc: nothing erased\nno records for abc\n")
    assert main(["records", "show", "keep", "--config", str(f)]) == 0
    assert main(["records", "erase", "--config", str(f)]) == 2
    assert "records erase: give one consent id" in capsys.readouterr().err


def test_no_consent_id_minted_starts_with_a_dash():
    """One in 64 did (secrets.token_urlsafe): `records show -1bzz...` was an option."""
    from consentproxy.consent import new_consent_id

    ids = [new_consent_id() for _ in range(5000)]
    assert not [i for i in ids if i.startswith("-")]
    assert {len(i) for i in ids} == {16} and all(re.fullmatch(r"[\w-]+", i) for i in ids)
    assert any("-" in i for i in ids)  # (the alphabet is kept)


def test_records_show_takes_an_id_starting_with_a_dash(tmp_path, capsys):
    f = config_with_records(tmp_path, "-1bzzGJ5ykuqAwHK")
    for argv in (["--id=-1bzzGJ5ykuqAwHK"], ["--", "-1bzzGJ5ykuqAwHK"]):
        assert main(["records", "show", "--config", str(f), *argv]) == 0
        assert json.loads(capsys.readouterr().out)["consent_id"] == "-1bzzGJ5ykuqAwHK"
    assert main(["records", "show", "--config", str(f)]) == 2
    assert "give one consent id, as ID or --id=ID (an id starting with '-': --id=-ID" in (
        capsys.readouterr().err
    )
    with pytest.raises(SystemExit):  # (as the cookie holds it: argparse takes it for an option)
        main(["records", "show", "-1bzzGJ5ykuqAwHK", "--config", str(f)])
    assert "unrecognized arguments: -1bzzGJ5ykuqAwHK; a consent id starting with '-' is given" in (
        capsys.readouterr().err
    )
    with pytest.raises(SystemExit):
        main(["records", "show", "--help"])
    assert "--id=-ID, or last, after --" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("consent_id", ["\udcff", "caf\u00e9"])  # (bytes not UTF-8; accents)
def test_records_show_refuses_an_id_no_consent_cookie_holds(tmp_path, capsys, consent_id):
    """(sqlite3's UnicodeEncodeError traceback for the first)"""
    f = tmp_path / "site.yaml"
    f.write_text(GOOD + "records: {path: r.sqlite3}\n")
    (tmp_path / "r.sqlite3").write_bytes(b"")
    assert main(["records", "show", consent_id, "--config", str(f)]) == 2
    assert f"{consent_id!r} is no consent id: one is ASCII letters, digits" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("command", [["export"], ["stats"], ["show", "abc"], ["purge"]])
def test_records_commands_refuse_a_store_that_does_not_exist_and_create_none(
    tmp_path, capsys, command
):
    f = tmp_path / "site.yaml"
    f.write_text(GOOD + "records: {path: missing/r.sqlite3}\n")
    assert main(["records", *command, "--config", str(f)]) == 2
    err = capsys.readouterr().err
    assert f"no records store at {tmp_path / 'missing' / 'r.sqlite3'} (named in {f})" in err
    assert "serve has not written one yet, or the path is wrong" in err
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("what", ["a directory", "not a database"])
def test_records_commands_say_which_store_cannot_be_opened(tmp_path, capsys, what):
    store = tmp_path / "r.sqlite3"
    if what == "a directory":
        store.mkdir()
    else:
        store.write_bytes(b"not a database " * 300)
    f = tmp_path / "site.yaml"
    f.write_text(GOOD + "records: {path: r.sqlite3}\n")
    assert main(["records", "export", "--config", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"consentproxy: cannot open the records store {store} (named in {f}): ")
    assert "check the file is a records store this user can read" in err
    assert "Traceback" not in err


def test_records_commands_leave_out_a_row_that_is_no_record_and_say_which(tmp_path, capsys, caplog):
    """(a JSONDecodeError traceback naming neither the row nor the file)"""
    import sqlite3

    f = config_with_records(tmp_path, "abc", "abc", "keep")
    with sqlite3.connect(tmp_path / "r.sqlite3") as db:
        db.execute("UPDATE consent_records SET granted_categories = 'analytics' WHERE id = 1")
    summary = (
        f"consentproxy: {tmp_path / 'r.sqlite3'}: 1 of its rows left out, being no records "
        "(each named above, with what to do)\n"
    )
    for command, out in (
        (["export"], ["abc", "keep"]),
        (["show", "abc"], ["abc"]),
        (["stats", "--format", "json"], None),
    ):
        caplog.clear()
        assert main(["records", *command, "--config", str(f)]) == 1
        stdout, stderr = capsys.readouterr()
        if out is not None:
            assert [json.loads(x)["consent_id"] for x in stdout.splitlines()] == out
        else:
            assert json.loads(stdout)[-1]["decisions"] == 2
        assert stderr.endswith(summary)
        assert "row 1 of " in caplog.text and "DELETE FROM consent_records WHERE id = 1" in (
            caplog.text
        )


def test_records_commands_say_a_store_damaged_mid_file_is_to_be_restored(tmp_path, capsys):
    """(a "database disk image is malformed" traceback)"""
    import asyncio

    from consentproxy.records import SqliteStore
    from tests.test_records import NOW, record

    async def fill() -> None:
        store = SqliteStore(tmp_path / "r.sqlite3")
        await store.open()
        await store.write([record(f"v{i}", NOW + i) for i in range(3000)])
        await store.close()

    asyncio.run(fill())
    path = tmp_path / "r.sqlite3"
    with path.open("r+b") as file:  # (pages of records overwritten; the schema's intact)
        file.seek(path.stat().st_size // 2)
        file.write(b"\xff" * 8192)
    f = tmp_path / "site.yaml"
    f.write_text(GOOD + "records: {path: r.sqlite3}\n")
    for command in (["export"], ["stats"]):
        assert main(["records", *command, "--config", str(f)]) == 2
        assert capsys.readouterr().err == (
            f"consentproxy: the records store {path} (named in {f}) failed: database disk image "
            "is malformed; the file is damaged: restore it from a backup, or save what is left "
            f"with `sqlite3 {path} .recover | sqlite3 NEW` and name NEW in records.path\n"
        )


def test_records_erase_says_to_try_again_while_another_holds_the_write_lock(
    tmp_path, capsys, monkeypatch
):
    """(a "database is locked" traceback after 5 s)"""
    import sqlite3

    from consentproxy import records

    monkeypatch.setattr(records, "BUSY_SECONDS", 0.1)
    f = config_with_records(tmp_path, "abc")
    holder = sqlite3.connect(tmp_path / "r.sqlite3", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        assert main(["records", "erase", "abc", "--config", str(f)]) == 2
    finally:
        holder.close()
    assert capsys.readouterr().err == (
        f"consentproxy: the records store {tmp_path / 'r.sqlite3'} (named in {f}) failed: "
        "database is locked; another process holds its write lock (serve writing a batch, or "
        "another records command); try again later\n"
    )
    assert main(["records", "erase", "abc", "--config", str(f)]) == 0


def test_records_reading_commands_read_a_store_they_cannot_write(tmp_path, capsys):
    """A backup, a read-only mount (chattr +i stands in): export said "attempt to write a
    readonly database"; the reading commands now open the store read-only."""
    import asyncio
    import sqlite3

    from consentproxy.records import SqliteStore
    from tests.test_records import NOW, record

    async def fill() -> None:
        store = SqliteStore(tmp_path / "r.sqlite3")
        await store.open()
        await store.write([record("abc", NOW)])
        await store.close()

    asyncio.run(fill())
    with sqlite3.connect(tmp_path / "r.sqlite3") as db:  # (a copy, as VACUUM INTO makes one)
        db.execute("PRAGMA journal_mode=DELETE")
    f = tmp_path / "site.yaml"
    f.write_text(GOOD + "records: {path: r.sqlite3}\n")
    if subprocess.run(["chattr", "+i", str(tmp_path / "r.sqlite3")], check=False).returncode:
        pytest.skip("chattr +i needs root and a file system that has it")
    try:
        assert main(["records", "export", "--config", str(f)]) == 0
        assert json.loads(capsys.readouterr().out)["consent_id"] == "abc"
        assert main(["records", "show", "abc", "--config", str(f)]) == 0
        assert main(["records", "stats", "--config", str(f)]) == 0
    finally:
        subprocess.run(["chattr", "-i", str(tmp_path / "r.sqlite3")], check=True)


@pytest.mark.parametrize("command", [["export"], ["stats"], ["show", "abc"], ["purge"]])
def test_records_commands_refuse_another_application_s_database_and_change_nothing(
    tmp_path, capsys, command
):
    """export answered 0 records after adding five tables to it and switching it to WAL."""
    import sqlite3

    other = tmp_path / "app.sqlite3"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE users (a INTEGER)")
    f = tmp_path / "site.yaml"
    f.write_text(GOOD + "records: {path: app.sqlite3}\n")
    assert main(["records", *command, "--config", str(f)]) == 2
    assert capsys.readouterr().err == (
        f"consentproxy: {other} is not a consentproxy records store (it has tables: users); "
        "give records.path a file of its own\n"
    )
    with sqlite3.connect(other) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master")]
        assert (tables, db.execute("PRAGMA journal_mode").fetchone()) == (["users"], ("delete",))


def test_records_show_rebuilds_the_banner_each_visitor_was_shown(tmp_path, capsys):
    """The archived version, not today's config: the banner says what it said then."""
    import asyncio

    from consentproxy.config import load_config
    from consentproxy.proof import archived
    from consentproxy.records import SqliteStore
    from tests.test_records import NOW, record

    f = tmp_path / "site.yaml"
    f.write_text(
        GOOD + "records: {path: r.sqlite3}\nlanguages: [en, de]\n"
        "banner: {texts: {de: {title: Damals gezeigt}}}\n"
    )
    digest, content = archived(load_config(f))

    async def fill() -> None:
        store = SqliteStore(tmp_path / "r.sqlite3")
        await store.open()
        await store.write(
            [
                record("v", NOW, language="de", shown_digest=digest),
                record("v", NOW + 1, language="de", shown_digest="gone"),
            ],
            {digest: content},
        )
        await store.close()

    asyncio.run(fill())
    f.write_text(
        GOOD + "records: {path: r.sqlite3}\nlanguages: [en, de]\n"
        "banner: {texts: {de: {title: Heute anders}}}\n"
    )
    assert (
        main(["records", "show", "v", "--config", str(f), "--html", str(tmp_path / "shown")]) == 1
    )  # (1: one version asked for is missing; the one archived is rebuilt all the same)
    out = capsys.readouterr()
    assert [json.loads(x)["language"] for x in out.out.splitlines()] == ["de", "de"]
    assert "version gone of what was shown is not in the archive" in out.err
    [page] = (tmp_path / "shown").iterdir()
    html = page.read_text()
    assert page.name == f"shown-{digest[:12]}-de.html" and '<html lang="de">' in html
    assert "Damals gezeigt" in html and "Heute anders" not in html
    assert "Alle ablehnen" in html and "Reject all" not in html


def test_records_show_rebuilds_no_banner_from_an_archived_version_altered_since(tmp_path, capsys):
    """The digest in each record names what was shown: a version whose text was edited in
    the store (a banner made to say what it never said) had been rebuilt under that name.
    It is said once (not per language, as it was), and a version missing from the archive
    is a failure too (it exited 0: the rebuild asked for was not made either)."""
    import asyncio
    import sqlite3

    from consentproxy.config import load_config
    from consentproxy.proof import archived
    from consentproxy.records import SqliteStore
    from tests.test_records import NOW, record

    f = tmp_path / "site.yaml"
    f.write_text(GOOD + "records: {path: r.sqlite3}\nbanner: {texts: {en: {title: Then}}}\n")
    digest, content = archived(load_config(f))

    async def fill() -> None:
        store = SqliteStore(tmp_path / "r.sqlite3")
        await store.open()
        shown = [
            record("v", NOW + i, language=lang, shown_digest=digest)
            for i, lang in ((0, "en"), (1, "de"))
        ]
        await store.write(shown, {digest: content})
        await store.write([record("w", NOW, language="en", shown_digest="ab" * 32)], {})
        await store.close()

    asyncio.run(fill())
    with sqlite3.connect(tmp_path / "r.sqlite3") as db:
        db.execute("UPDATE shown_versions SET content = replace(content, 'Then', 'Forged')")
    shown = tmp_path / "shown"
    assert main(["records", "show", "v", "--config", str(f), "--html", str(shown)]) == 1
    out = capsys.readouterr()
    assert json.loads(out.out.splitlines()[0])["shown_digest"] == digest
    assert out.err.count(f"version {digest[:12]} of what was shown was changed or corrupted") == 1
    assert list(shown.iterdir()) == []
    assert main(["records", "show", "w", "--config", str(f), "--html", str(shown)]) == 1
    assert "version abababababab of what was shown is not in the archive" in capsys.readouterr().err


def test_check_config_names_the_sites_own_elements_that_open_the_preferences(tmp_path, capsys):
    f = tmp_path / "site.yaml"
    f.write_text(GOOD + "banner: {open_selectors: [.ot-sdk-show-settings, '#cookies']}\n")
    assert main(["check-config", str(f)]) == 0
    assert (
        "the site's own elements that open the preferences: .ot-sdk-show-settings, #cookies"
    ) in capsys.readouterr().out
    f.write_text(GOOD + "banner: {open_selectors: ['footer a']}\n")
    assert main(["check-config", str(f)]) == 2
    assert "site.yaml:7: banner.open_selectors: 'footer a': only a tag" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (
            "former_cmp: {tool: cookiebot, import: {statistics: analytics}}\n",
            (
                "former consent tool cookiebot: its scripts, loaders and cookies neutralised; "
                "a returning visitor's choice imported once (statistics -> analytics)"
            ),
        ),
        (
            (
                "  - use: criteo\n    category: analytics\nformer_cmp: {tool: tcf, import: "
                "{1: analytics, 8: analytics}, vendors: {analytics: [755]}}\n"
            ),
            (
                "imported once (1 -> analytics, 8 -> analytics; analytics needs the TCF "
                "vendors 91, 755 consented too)"
            ),
        ),
        (  # (a month ago, whenever the test runs: a fixed day's imports ended 182 days on)
            f"former_cmp: {{tool: klaro, import: {{matomo: analytics}}, until: {_MONTH_AGO}}}\n",
            (
                "imported once (matomo -> analytics); klaro's cookie keeps no time: each "
                f"choice taken as made {_MONTH_AGO} 00:00 UTC (or at the visitor's first "
                f"request, if before), none imported from {_MONTH_AGO + timedelta(182)} "
                "00:00 UTC"
            ),
        ),
        (
            "former_cmp: {tool: onetrust, import: {C0002: analytics}, until: 2020-01-01}\n",
            (
                "former consent tool onetrust: its scripts, loaders and cookies neutralised; "
                "no choice imported: until 2020-01-01 is more than 182 days past\n"
            ),
        ),
        (  # (it said each choice was imported once, beside the warning that none was)
            (
                "consent: {revision: 2}\nformer_cmp: {tool: cookiebot, import: {statistics: "
                "analytics}}\n"
            ),
            (
                "former consent tool cookiebot: its scripts, loaders and cookies neutralised; "
                "no choice imported: consent.revision (2) is above former_cmp.revision (1), "
                "the policy its choices were made under\n"
            ),
        ),
        (  # (it advised adding import:, which would import nothing either)
            "consent: {revision: 2}\nformer_cmp: {tool: cookiebot}\n",
            "neutralised; no choice imported: consent.revision (2) is above former_cmp",
        ),
        (
            "former_cmp: {tool: complianz, until: 2020-01-01}\n",
            "neutralised; no choice imported: until 2020-01-01 is more than 182 days past\n",
        ),
        (
            "former_cmp: {tool: complianz, neutralise: false, path: /blog/}\n",
            "former consent tool complianz (its cookies on /blog/): left running; choices not",
        ),
    ],
)
def test_check_config_says_what_happens_to_the_former_consent_tool(tmp_path, capsys, extra, says):
    f = tmp_path / "site.yaml"
    f.write_text(GOOD + extra)
    assert main(["check-config", str(f)]) == 0
    assert says in capsys.readouterr().out


def test_check_config_says_which_places_are_opt_out(tmp_path, capsys):
    f = tmp_path / "site.yaml"
    f.write_text(
        GOOD + "trusted_proxies: [10.0.0.1]\nregions: {header: CF-IPCountry, "
        "subdivision_header: CF-Region-Code, opt_out: [US-CA, US-CO]}\n"
    )
    assert main(["check-config", str(f)]) == 0
    assert (
        "regions: from CF-IPCountry and CF-Region-Code (believed from trusted_proxies "
        "only): opt-out in US-CA, US-CO; opt-in (consent first) everywhere else and where "
        "the place is unknown"
    ) in capsys.readouterr().out
    f.write_text(GOOD + "regions: {header: CF-IPCountry, opt_out: [US]}\n")
    assert main(["check-config", str(f)]) == 2
    assert "site.yaml:7: regions needs trusted_proxies" in capsys.readouterr().err


def test_check_config_says_which_google_tags_load_before_consent(tmp_path, capsys):
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    assert main(["check-config", str(f)]) == 0
    assert "Google Consent Mode v2: basic (Google tags held until consent)" in (
        capsys.readouterr().out
    )
    for listed in ("\n  - use: google-tag-manager", ""):  # configured, or a known tracker
        f.write_text(
            GOOD.replace(
                "- use: google-analytics",
                "- {use: google-analytics, consent_mode: advanced}" + listed,
            )
        )
        assert main(["check-config", str(f)]) == 0
        out = capsys.readouterr().out
        assert (
            "Google Consent Mode v2: advanced for google-analytics (loaded before consent, "
            "signals denied, cookies held; contested in the EU)"
        ) in out
        assert (
            "warning: google-analytics is in Consent Mode's advanced mode, but gtag.js "
            "(www.googletagmanager.com) is 'google-tag-manager', held until consent; give "
            "it consent_mode: advanced too (- {use: google-tag-manager, consent_mode: "
            "advanced})"
        ) in out
    f.write_text(
        GOOD.replace(
            "- use: google-analytics",
            "- {use: google-analytics, consent_mode: advanced}\n"
            "  - {use: google-tag-manager, consent_mode: advanced}",
        )
    )
    assert main(["check-config", str(f)]) == 0
    assert "warning: google-analytics" not in capsys.readouterr().out


AMPERE = "config/ampere.yaml"


@pytest.mark.parametrize(
    ("what", "config", "line"),
    [
        (
            "_ga",
            AMPERE,
            (
                "cookie _ga: audience (needs consent), by service google-analytics of "
                "config/ampere.yaml"
            ),
        ),  # not the catalog's analytics
        (
            "PREF",
            AMPERE,
            "cookie PREF: social (needs consent), by service youtube of config/ampere",
        ),
        ("lang", AMPERE, "cookie lang: technical (always allowed), by service site-language"),
        ("consent", AMPERE, "cookie consent: technical (always allowed), by consent.cookie_name"),
        (
            "PHPSESSID",
            "config/demo.yaml",
            "cookie PHPSESSID: necessary (always allowed), by necessary_cookies",
        ),
        (
            "IDE",
            AMPERE,
            (
                "cookie IDE: social (needs consent), by the catalog: built-in service "
                "google-ads (advertising), not used by the config -> social in this "
                "config"
            ),
        ),
        (
            "__insp_uid",
            AMPERE,
            (
                "cookie __insp_uid: audience (needs consent), by the Open Cookie "
                "Database: Inspectlet, Analytics -> analytics -> audience"
            ),
        ),
        (
            "IDE",
            "config/saas.yaml",
            (
                "cookie IDE: unknown, blocked whatever is accepted, by the "
                "catalog: built-in service google-ads (advertising), not used "
                "by the config, a category config/saas.yaml lacks: "
                "unknown_cookies (block)"
            ),
        ),
        (
            "zz_custom",
            AMPERE,
            (
                "cookie zz_custom: unknown, blocked whatever is accepted, by "
                "unknown_cookies (block): nothing names it"
            ),
        ),
        (
            "OptanonConsent",
            AMPERE,
            (
                "cookie OptanonConsent: former-cmp (the former consent tool: "
                "never allowed), by former_cmp"
            ),
        ),
        (
            "https://www.youtube.com/embed/x?a=1",
            AMPERE,
            "host www.youtube.com/embed/x: social (needs consent), by service youtube",
        ),
        (
            "www.google.com/maps/embed",
            "config/demo.yaml",
            "host www.google.com/maps/embed: social (needs consent), by service google-maps",
        ),
        (
            "cdn.cookielaw.org",
            AMPERE,
            (
                "host cdn.cookielaw.org: former-cmp (the former consent "
                "tool: never allowed), by former_cmp"
            ),
        ),
    ],
)
def test_catalog_classify_with_a_config_says_its_category_and_the_rule(
    what, config, line, capsys, monkeypatch
):
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert main(["catalog", "classify", what, "--config", config]) == 0
    out = capsys.readouterr().out
    assert line in out, out
    assert ("cookie " in out) == line.startswith("cookie ")  # a URL or host is no cookie


@pytest.mark.parametrize("what", ["/relative", "http://[::1", "http://"])
def test_catalog_classify_with_a_config_refuses_what_is_no_cookie_host_or_url(
    tmp_path, capsys, what
):
    """(it printed nothing and exited 0)"""
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    assert main(["catalog", "classify", what, "--config", str(f)]) == 2
    assert f"{what!r} is no cookie name (it holds '/' or ':') and names no host with a domain" in (
        capsys.readouterr().err
    )


def test_declaration_prints_the_cookie_declaration_in_each_format_and_language(tmp_path, capsys):
    f = tmp_path / "site.yaml"
    f.write_text(GOOD + "languages: [en, fr]\n")
    assert main(["declaration", "--config", str(f)]) == 0
    md = capsys.readouterr().out
    assert md.startswith("## Strictly necessary (Always on)")
    assert "| Google Analytics ([Privacy policy](https://policies.google.com/privacy)) |" in md
    assert main(["declaration", "--config", str(f), "--format", "html", "--lang", "fr"]) == 0
    html = capsys.readouterr().out
    assert html.startswith('<section class="consent-declaration" lang="fr"')
    assert "Mesure d&#x27;audience" in html and "preferences" not in html
    assert main(["declaration", "--config", str(f), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["categories"][1]["name"] == "analytics"
    assert main(["declaration", "--config", str(f), "--lang", "de"]) == 2
    assert f"--lang 'de': {f} offers en, fr" in capsys.readouterr().err


def test_records_stats_prints_each_days_numbers_and_opt_in_rates(tmp_path, capsys):
    import asyncio

    from consentproxy.records import SqliteStore
    from tests.test_records import NOW, record

    f = tmp_path / "site.yaml"
    f.write_text(GOOD + "records: {path: r.sqlite3}\n")

    async def fill() -> None:
        store = SqliteStore(tmp_path / "r.sqlite3")
        await store.open()
        await store.write(
            [
                record(
                    "a",
                    NOW,
                    action="accept-all",
                    outcome="accept-all",
                    granted_categories=("analytics",),
                    refused_categories=(),
                ),
                record(
                    "b",
                    NOW,
                    action="reject-all",
                    outcome="close",
                    granted_categories=(),
                    refused_categories=("analytics",),
                ),
                record(
                    "c",
                    NOW,
                    action="reject-all",
                    outcome="reject-all",
                    granted_categories=(),
                    refused_categories=("analytics",),
                ),
            ],
            impressions={"2027-01-15": 8},
        )
        await store.close()

    asyncio.run(fill())
    assert main(["records", "stats", "--config", str(f)]) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert lines[0].split() == [
        "day",
        "impressions",
        "decisions",
        "accept-all",
        "reject-all",
        "customise",
        "close",
        "ignored",
        "analytics",
        "opt-in",
    ]
    assert lines[1].split() == ["2027-01-15", "8", "3", "1", "1", "0", "1", "5", "33.3%"]
    assert lines[2].split()[0] == "total" and "ignored: page views" in out.err
    assert (
        main(["records", "stats", "--config", str(f), "--format", "json", "--since", "2027-01-16"])
        == 0
    )
    assert json.loads(capsys.readouterr().out) == []
    assert main(["records", "stats", "--config", str(f), "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("2027-01-15,8,3,1,1,0,1,5,33.3%")


def test_suggest_refuses_a_file_that_is_no_report_log_or_host_list(tmp_path, capsys):
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    report, prose, hosts, log = (tmp_path / n for n in ("report.json", "a.txt", "h.txt", "o.log"))
    report.write_text('{"url": "http://n.example/",\n "states": [{"pages": [')
    prose.write_text("static.chartbeat.com\nDear operator, here are the hosts\n")
    assert main(["suggest", "--config", str(f), str(report)]) == 2
    err = capsys.readouterr().err
    assert f"consentproxy: {report}:2: not a scan report (" in err
    assert "serve --observe's log, or one host a line" in err and "Traceback" not in err
    assert main(["suggest", "--config", str(f), str(prose)]) == 2
    assert (
        f"{prose}:2: 'Dear operator, here are the hosts' is not a host" in capsys.readouterr().err
    )
    hosts.write_text("\ufeff# the hosts we saw\nstatic.chartbeat.com\n\ncdn.jsdelivr.net\n")
    log.write_text(
        "INFO observe: third-party host 'x.nobody.example' on / is named by no service\n"
    )
    assert main(["suggest", "--config", str(f), str(hosts), str(log)]) == 0
    out = capsys.readouterr().out
    assert "name: chartbeat" in out and "csp_allow: [cdn.jsdelivr.net]" in out
    assert "# unknown: x.nobody.example" in out and "INFO" not in out


@pytest.mark.parametrize(
    "report",
    [
        '{"states": 5}',
        '{"states": [5]}',
        '{"states": [{"pages": [{"requests": [{}]}]}]}',
        '{"states": [{"pages": [{"requests": [{"host": 5}]}]}]}',
        '{"states": [], "url": 7}',
        '{"states": [], "url": "http://[::1"}',
    ],
)
def test_suggest_refuses_json_with_states_that_is_no_scan_report(tmp_path, capsys, report):
    """JSON of another shape (edited, another tool's) was a TypeError/KeyError traceback."""
    f, r = tmp_path / "site.yaml", tmp_path / "report.json"
    f.write_text(GOOD)
    r.write_text(report)
    assert main(["suggest", "--config", str(f), str(r)]) == 2
    err = capsys.readouterr().err
    assert f"consentproxy: {r}: not a scan report (its url, states, pages or requests" in err


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://u:p@ss@db.example/records", "postgresql://u:***@db.example/records"),
        ("postgresql://:pw@db.example/records", "postgresql://:***@db.example/records"),
        (
            "postgresql://u@db.example/records?sslmode=require&password=hunter2",
            "postgresql://u@db.example/records?sslmode=require&password=***",
        ),
        ("/var/lib/consentproxy/records.sqlite3", "/var/lib/consentproxy/records.sqlite3"),
    ],
)
def test_a_store_is_named_without_its_password(dsn, shown):
    """(a password after '@', with no user, or given as a parameter was printed in every
    log line naming the store)"""
    assert redacted(dsn) == shown


def test_output_cut_short_by_its_reader_is_no_error():
    """`consentproxy ... | head` printed "consentproxy: Broken pipe"."""
    piped = subprocess.run(
        f"{sys.executable} -m consentproxy check-config {DEMO_CONFIG} | head -c 1",
        shell=True,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert piped.stdout and piped.stderr == ""


def test_scan_prints_a_pages_own_strings_with_their_control_characters_escaped(
    tmp_path, capsys, monkeypatch
):
    """A storage key of escape sequences and newlines cleared the terminal, retitled it and
    forged a '0 violation(s)' line of the scan's own."""
    key = "_ga\x1b[2J\x1b]0;pwned\x07\nconsentproxy scan: 0 violation(s)\x85\x7f\ud800"
    detail = f"{key} (analytics) in localStorage without consent"
    page = {"path": "/", "violations": [{"kind": "storage", "detail": detail}]}
    state = {"state": "none", "pages": [page], "third_party_requests": 0, "violations": 1}

    async def run(self):
        return {"states": [state], "violations": 1}

    monkeypatch.setattr("consentproxy.scan.Scanner.run", run)
    args = ["scan", "http://127.0.0.1:9/", "--config", str(DEMO_CONFIG), "--direct"]
    assert main([*args, "--out", str(tmp_path)]) == 1
    said = capsys.readouterr().out
    assert (
        "  none /: storage: _ga\\x1b[2J\\x1b]0;pwned\\x07\\nconsentproxy scan: 0 violation(s)"
        "\\x85\\x7f\\ud800 (analytics) in localStorage without consent\n"
    ) in said
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff]", said)
    assert [line for line in said.splitlines() if line.startswith("consentproxy scan:")] == [
        f"consentproxy scan: 1 violation(s); report in {tmp_path / 'report.html'}"
    ]


def test_suggest_reads_no_more_than_its_limit_of_a_file(tmp_path, capsys):
    """suggest read the whole file, a serve log of gigabytes or /dev/zero until memory ran
    out: past 64 MiB it is refused, saying how to give it the observe lines alone."""
    f, log = tmp_path / "site.yaml", tmp_path / "serve.log"
    f.write_text(GOOD)
    log.write_text("INFO observe: third-party host 'x.nobody.example' on / is named by no one\n")
    os.truncate(log, (64 << 20) + 1)
    assert main(["suggest", "--config", str(f), str(log)]) == 2
    err = capsys.readouterr().err
    assert f"consentproxy: {log}: more than 64 MiB, which no scan report" in err
    assert "grep 'observe: ' serve.log > observe.log" in err
