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
