import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from consentproxy.cli import main

GOOD = """\
upstream: http://127.0.0.1:8080
categories:
  necessary: {required: true}
  analytics: {}
services:
  - use: google-analytics
"""


def test_check_config_explains_a_good_config(tmp_path, capsys):
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    assert main(["check-config", str(f)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "category analytics: google-analytics" in out


def test_check_config_error_names_file_line_and_fix(tmp_path, capsys):
    f = tmp_path / "site.yaml"
    f.write_text(GOOD.replace("use: google-analytics", "use: youtube"))
    assert main(["check-config", str(f)]) == 2
    err = capsys.readouterr().err
    assert f"{f}:6: service 'youtube' is in category 'social', which is not defined" in err


def test_serve_refuses_to_start_without_a_secret(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CONSENTPROXY_SECRET", raising=False)
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    assert main(["serve", "--config", str(f)]) == 2
    assert "set CONSENTPROXY_SECRET" in capsys.readouterr().err


def test_serve_refuses_a_short_secret(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CONSENTPROXY_SECRET", "short")
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    assert main(["serve", "--config", str(f)]) == 2
    assert "shorter than" in capsys.readouterr().err


def test_catalog_list_and_show_describe_the_builtin_services(capsys):
    assert main(["catalog", "list"]) == 0
    out = capsys.readouterr().out
    assert "youtube" in out and "Open Cookie Database" in out
    assert main(["catalog", "show", "matomo-cloud"]) == 0
    out = capsys.readouterr().out
    assert "retention:" in out and "_pk_id.*" in out and "embed:       script" in out
    assert main(["catalog", "show", "nope"]) == 2
    assert "catalog list" in capsys.readouterr().err


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


def test_check_config_prints_warnings(tmp_path, capsys):
    f = tmp_path / "site.yaml"
    f.write_text(GOOD + "unknown_cookies: allow\n")
    assert main(["check-config", str(f)]) == 0
    assert "warning: unknown_cookies: allow" in capsys.readouterr().out


def test_workers_need_a_fixed_port(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CONSENTPROXY_SECRET", "x" * 32)
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    assert main(["serve", "--config", str(f), "--listen", "127.0.0.1:0", "--workers", "2"]) == 2
    assert "--workers needs a fixed listen port" in capsys.readouterr().err


def test_workers_share_one_port_and_stop_together(tmp_path):
    f = tmp_path / "site.yaml"
    f.write_text(GOOD)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "consentproxy.cli", "serve", "--config", str(f), "--listen",
         f"127.0.0.1:{port}", "--workers", "2"],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ, CONSENTPROXY_SECRET="x" * 32))
    try:
        assert "(2 workers)" in proc.stdout.readline()
        workers = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(workers) == 2
        for _ in range(20):  # until both have bound the port
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/.consent/state",
                                            timeout=5) as r:
                    assert r.status == 200
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("no worker answered")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    finally:
        proc.kill()
