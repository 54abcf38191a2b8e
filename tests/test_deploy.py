"""The files in deploy/ pass their own tools' checks: ``systemd-analyze verify`` (and its
offline security score), ``nginx -t`` on a wrapper config with a self-signed certificate,
``caddy validate`` and ``caddy fmt``.

Each test skips, saying why, when its tool is not installed; ``.ci/run`` installs them
(nginx, caddy where the Debian repositories have it; systemd-analyze comes with the
systemd package) and names the ones it has in ``TONDONATE_TEST_DEPLOY_TOOLS``: a tool
named there and missing fails instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
MAX_EXPOSURE = 2.0  # systemd-analyze security: 0 (locked down) .. 10 (exposed)


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (apt-get install nginx caddy systemd)"
        if name in os.environ.get("TONDONATE_TEST_DEPLOY_TOOLS", "").split():
            pytest.fail(f"{reason}, and TONDONATE_TEST_DEPLOY_TOOLS requires it", pytrace=False)
        pytest.skip(reason)
    return path


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)


@pytest.fixture
def unit(tmp_path) -> Path:
    """The unit, its ExecStart pointed at this venv's tondonate (verify wants an executable)."""
    executable = Path(sys.executable).parent / "tondonate"
    assert executable.is_file(), "tondonate's entry point is not installed next to python"
    text = (DEPLOY / "tondonate.service").read_text()
    assert "ExecStart=/opt/tondonate/venv/bin/tondonate " in text
    copy = tmp_path / "tondonate.service"
    copy.write_text(text.replace("ExecStart=/opt/tondonate/venv/bin/tondonate", f"ExecStart={executable}"))
    return copy


def test_systemd_unit_verifies_and_is_hardened(unit):
    analyze = tool("systemd-analyze")
    verified = run(analyze, "verify", str(unit))
    # verify exits 0 on an unknown key or a bad value, only saying so: any line about the unit fails.
    complaints = [line for line in (verified.stdout + verified.stderr).splitlines() if "tondonate.service" in line]
    assert verified.returncode == 0 and not complaints, verified.stdout + verified.stderr
    security = run(analyze, "security", "--offline=true", "--no-pager", str(unit))
    match = re.search(r"Overall exposure level for tondonate\.service: ([0-9.]+)", security.stdout + security.stderr)
    assert match, security.stdout + security.stderr
    assert float(match[1]) <= MAX_EXPOSURE, security.stdout


def test_systemd_verify_catches_a_broken_unit(unit):
    """The check above is not vacuous: a unit whose binary is missing fails verify."""
    analyze = tool("systemd-analyze")
    unit.write_text(re.sub(r"ExecStart=\S+", "ExecStart=/nonexistent/tondonate", unit.read_text()))
    assert run(analyze, "verify", str(unit)).returncode != 0


def nginx_check(tmp_path: Path, site: str) -> subprocess.CompletedProcess:
    """``nginx -t`` on a wrapper that includes ``site``, its certificate paths replaced by a
    self-signed one made here (nothing outside tmp_path is read or written)."""
    nginx, openssl = tool("nginx"), tool("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = run(
        openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=donate.example.org",
        "-keyout", str(key), "-out", str(cert),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    live = "/etc/letsencrypt/live/donate.example.org"
    assert f"{live}/fullchain.pem" in site and f"{live}/privkey.pem" in site
    site = site.replace(f"{live}/fullchain.pem", str(cert)).replace(f"{live}/privkey.pem", str(key))
    (tmp_path / "site.conf").write_text(site)
    temp_paths = "".join(
        f"    {kind}_temp_path {tmp_path / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'};\nevents {{}}\n"
        f"http {{\n    access_log off;\n{temp_paths}    include {tmp_path / 'site.conf'};\n}}\n"
    )
    return run(nginx, "-t", "-e", str(tmp_path / "error.log"), "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"))


def test_nginx_site_passes_nginx_t(tmp_path):
    site = (DEPLOY / "nginx.conf").read_text()
    for needed in (
        "proxy_buffering off",
        "X-Forwarded-For",
        "X-Forwarded-Proto",
        "127.0.0.1:8080",
        "/telegram/webhook",
    ):
        assert needed in site
    checked = nginx_check(tmp_path, site)
    assert checked.returncode == 0, checked.stderr


def test_nginx_t_catches_a_broken_site(tmp_path):
    site = (DEPLOY / "nginx.conf").read_text().replace("proxy_buffering off;", "proxy_buffering perhaps;")
    assert nginx_check(tmp_path, site).returncode != 0


def test_caddyfile_validates_and_is_formatted(tmp_path):
    caddy = tool("caddy")
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    caddyfile = DEPLOY / "Caddyfile"
    validated = run(caddy, "validate", "--config", str(caddyfile), "--adapter", "caddyfile", env=env)
    assert validated.returncode == 0, validated.stderr
    formatted = run(caddy, "fmt", str(caddyfile), env=env)
    assert formatted.returncode == 0 and formatted.stdout == caddyfile.read_text(), "run `caddy fmt --overwrite`"
