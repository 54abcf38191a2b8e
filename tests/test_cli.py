"""The CLI as an operator uses it: db and config commands, exit codes, messages."""

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tondonate.cli import cli


@pytest.fixture
def run_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TONDONATE_DB_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return invoke


def test_help_lists_commands(run_cli):
    result = run_cli("--help")
    assert result.exit_code == 0
    for command in ("serve", "db", "config"):
        assert command in result.output


def test_migrate_then_up_to_date(run_cli):
    first = run_cli("db", "migrate")
    assert first.exit_code == 0 and "0001_initial" in first.output
    again = run_cli("db", "migrate")
    assert again.exit_code == 0 and "up to date" in again.output
    status = run_cli("db", "status")
    assert "applied  0001_initial" in status.output and "0 pending" in status.output


def test_status_on_empty_database_shows_pending(run_cli, tmp_path):
    (tmp_path / "cli.db").touch()
    result = run_cli("db", "status")
    assert result.exit_code == 0 and "pending  0001_initial" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ("config", "list"),
        ("config", "get", "tons.decimals"),
        ("config", "set", "tons.decimals", "3"),
        ("config", "unset", "tons.decimals"),
        ("users", "show", "1"),
        ("users", "block", "1"),
        ("db", "status"),
        ("db", "check"),
        ("payments", "refund", "x"),
        ("payments", "reconcile"),
    ],
)
def test_commands_refuse_a_missing_database_and_create_none(run_cli, tmp_path, monkeypatch, args):
    monkeypatch.setenv("TONDONATE_BOT_TOKEN", "123:ABC")
    result = run_cli(*args)
    assert result.exit_code == 1, result.output
    assert f"no database at sqlite:///{tmp_path / 'cli.db'}" in result.output, result.output
    assert not (tmp_path / "cli.db").exists() and not (tmp_path / "tondonate.db").exists()


def test_db_check_on_an_unmigrated_database_points_to_migrate(run_cli, tmp_path):
    (tmp_path / "cli.db").touch()
    result = run_cli("db", "check")
    assert result.exit_code == 1 and "run `tondonate db migrate`" in result.output, result.output


def test_config_set_names_the_database_it_changed(run_cli, tmp_path):
    run_cli("db", "migrate")
    result = run_cli("config", "set", "tons.decimals", "3")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"tons.decimals = 3 (in sqlite:///{tmp_path / 'cli.db'})"


def test_config_set_get_unset(run_cli):
    run_cli("db", "migrate")
    assert run_cli("config", "set", "tons.decimals", "3").exit_code == 0
    assert run_cli("config", "get", "tons.decimals").output.strip() == "3"
    listing = run_cli("config", "list").output
    assert "tons.decimals" in listing and "[database]" in listing
    assert run_cli("config", "unset", "tons.decimals").exit_code == 0
    assert run_cli("config", "get", "tons.decimals").output.strip() == "2"


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("config", "set", "tons.decimals", "12"), "0 to 9"),
        (("config", "set", "no.such.key", "1"), "unknown setting"),
        (("config", "get", "no.such.key"), "unknown setting"),
        (("config", "unset", "no.such.key"), "unknown setting"),
        (("config", "set", "donations.min_stars", "20000"), "min_stars 20000 > max_stars 10000"),
    ],
)
def test_bad_config_commands_fail_and_change_nothing(run_cli, args, fragment):
    run_cli("db", "migrate")
    run_cli("config", "set", "tons.decimals", "4")
    result = run_cli(*args)
    assert result.exit_code != 0 and fragment in result.output
    assert run_cli("config", "get", "tons.decimals").output.strip() == "4"


def test_bad_config_file_is_a_clean_error(run_cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[bot]\nwhat = 1\n")
    result = run_cli("--config", str(bad), "db", "migrate")
    assert result.exit_code == 1 and "unknown key bot.what" in result.output and "Traceback" not in result.output


def test_serve_without_token_says_so(run_cli, monkeypatch):
    monkeypatch.delenv("TONDONATE_BOT_TOKEN", raising=False)
    result = run_cli("serve")
    assert result.exit_code == 1 and "TONDONATE_BOT_TOKEN" in result.output


def test_installed_entry_point_from_another_folder(tmp_path):
    """``python -m tondonate`` works from any folder (migrations found as package data)."""
    env = {**os.environ, "TONDONATE_DB_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    out = subprocess.run(
        [sys.executable, "-m", "tondonate", "db", "migrate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "0001_initial" in out.stdout


async def test_block_show_and_unblock_a_user(tmp_path, monkeypatch):
    """Operators block users from the CLI; the rule the API and pre-checkout enforce reads the same flag."""
    import asyncio

    from tondonate.db import open_database
    from tondonate.db.migrate import migrate
    from tondonate.ledger.referrals import ensure_user
    from tondonate.users import Profile

    url = f"sqlite:///{tmp_path / 'u.db'}"
    migrate(url)
    db = open_database(url)
    await db.start()
    await ensure_user(db, Profile(77, username="someone"))
    await db.stop()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TONDONATE_DB_URL", url)
    runner = CliRunner()

    def invoke(*args):  # the commands run their own event loop: keep it off this one
        return runner.invoke(cli, list(args), catch_exceptions=False)

    blocked = await asyncio.to_thread(invoke, "users", "block", "77")
    assert blocked.exit_code == 0 and "77 blocked" in blocked.output
    shown = await asyncio.to_thread(invoke, "users", "show", "77")
    assert "@someone  [blocked]" in shown.output and "referrer: -" in shown.output
    assert (await asyncio.to_thread(invoke, "users", "unblock", "77")).exit_code == 0
    assert "[blocked]" not in (await asyncio.to_thread(invoke, "users", "show", "77")).output
    missing = await asyncio.to_thread(invoke, "users", "block", "78")
    assert missing.exit_code == 1 and "no user with Telegram id 78" in missing.output


def test_progress_lines_when_stderr_is_not_a_terminal(capsys):
    from tondonate.cli.options import _LineProgress, progress_bar

    assert isinstance(progress_bar(10, "users"), _LineProgress)  # pytest's stderr is no terminal
    now = [100.0]
    with _LineProgress(1000, "donations", clock=lambda: now[0]) as bar:
        for _ in range(9):
            now[0] += 3.0  # a line every 10 s or more
            bar.update(100)
        now[0] += 1.5
        bar.update(100)
    assert capsys.readouterr().err.splitlines() == [
        "donations  400/1000 (40%, 12 s)",
        "donations  800/1000 (80%, 24 s)",
        "donations  1000/1000 in 28.5 s",
    ]


@pytest.mark.parametrize("command", [("serve",), ("payments", "reconcile"), ("payments", "refund", "x")])
@pytest.mark.parametrize("token", ["notatoken", "123:", ":abc", "12a:abc", "123:abc def"])
def test_a_malformed_token_is_one_line_at_once(run_cli, monkeypatch, command, token):
    monkeypatch.setenv("TONDONATE_BOT_TOKEN", token)
    run_cli("db", "migrate")
    result = run_cli(*command)
    assert result.exit_code == 1, result.output
    assert "bot.token is malformed" in result.output and token not in result.output, result.output


def test_the_token_check_accepts_real_looking_tokens():
    from tondonate.config import Config, require_bot_token

    for token in ("123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0", "123456:TEST-token"):
        assert require_bot_token(Config().replace(bot={"token": token})) == token


def test_database_urls_shown_to_the_operator():
    from tondonate.redact import redact_db_url

    assert redact_db_url("sqlite:////srv/tondonate_production_database/x.db") == (
        "sqlite:////srv/tondonate_production_database/x.db"
    )
    assert redact_db_url("postgresql://bob:s3cret@db/tondonate") == "postgresql://bob:***@db/tondonate"


@pytest.mark.parametrize("where", ["before", "after"])
def test_config_is_accepted_before_and_after_the_command(run_cli, tmp_path, monkeypatch, where):
    monkeypatch.delenv("TONDONATE_DB_URL")  # the file's db.url, then
    other = tmp_path / "other.toml"
    other.write_text(f'[db]\nurl = "sqlite:///{tmp_path / "other.db"}"\n')
    args = ("--config", str(other), "db", "migrate") if where == "before" else ("db", "migrate", "--config", str(other))
    assert run_cli(*args).exit_code == 0
    assert (tmp_path / "other.db").is_file() and not (tmp_path / "cli.db").exists()
    shown = run_cli("config", "set", "--config", str(other), "tons.decimals", "3")
    assert shown.exit_code == 0 and "other.db" in shown.output, shown.output


@pytest.mark.parametrize(
    "command", [("serve",), ("db", "status"), ("config", "list"), ("users", "show"), ("payments", "reconcile")]
)
def test_every_command_documents_config(run_cli, command):
    result = run_cli(*command, "--help")
    assert result.exit_code == 0 and "--config" in result.output


def test_serve_with_config_after_it_reads_that_file(run_cli, tmp_path):
    result = run_cli("serve", "--config", str(tmp_path / "missing.toml"))
    assert result.exit_code == 1 and "config file not found" in result.output, result.output


def test_serve_help_names_the_token_and_the_mini_app_url(run_cli):
    result = run_cli("serve", "--help")
    assert "TONDONATE_BOT_TOKEN" in result.output and "TONDONATE_WEBAPP_URL" in result.output
