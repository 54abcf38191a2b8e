"""log.format = json: one JSON object a line with the message's key=value pairs as fields,
and no secret (the bot token, the metrics token, initData) in either format."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import orjson
import pytest

from tondonate.config import ConfigError, load_config
from tondonate.logs import JsonFormatter, RedactFilter, fields_of

TOKEN = "123456:AAHsecretBOTtoken_0123456789abcdef"
INIT_DATA = "query_id=AAE&user=%7B%22id%22%3A42%7D&auth_date=1700000000&hash=" + "ab" * 32


def record(msg, *args, exc_info=None, **extra):
    rec = logging.LogRecord("tondonate.ledger.credit", logging.INFO, __file__, 1, msg, args, exc_info)
    rec.__dict__.update(extra)
    return rec


def test_key_value_pairs_become_fields():
    assert fields_of("payment credited charge_id=ch-1 tg_id=42 stars=30 tons_nano=15000000000 week=2026-W49") == {
        "charge_id": "ch-1",
        "tg_id": 42,
        "stars": 30,
        "tons_nano": 15000000000,
        "week": "2026-W49",
    }
    assert fields_of("payment with unknown payload payload='abc def' rate=0.5; retry_in=5s") == {
        "payload": "abc def",
        "rate": "0.5",
        "retry_in": "5s",
    }
    assert fields_of("read model built in 4 ms: 0 users, 0 on the all-time board") == {}
    assert fields_of("message=spoofed level=x tg_id=1 tg_id=2") == {"tg_id": 1}  # the core keys are not overridden


def test_a_json_line_parses_and_has_the_fields():
    rec = record("payment credited charge_id=%s tg_id=%s stars=%s", "ch-7", 42, 30, rate_url="https://r.example/x")
    line = orjson.loads(JsonFormatter().format(rec))
    assert line["level"] == "INFO" and line["logger"] == "tondonate.ledger.credit"
    assert line["message"] == "payment credited charge_id=ch-7 tg_id=42 stars=30"
    assert line["time"].endswith("+00:00") and "T" in line["time"]
    assert (line["charge_id"], line["tg_id"], line["stars"]) == ("ch-7", 42, 30)
    assert line["rate_url"] == "https://r.example/x"  # an extra= field


def test_secrets_are_masked_in_message_traceback_and_fields():
    try:
        raise RuntimeError(f"POST https://api.telegram.org/bot{TOKEN}/getUpdates failed")
    except RuntimeError:
        exc_info = sys.exc_info()
    rec = record(
        "getUpdates failed url=https://api.telegram.org/bot%s/getMe init=%s metrics=%s",
        TOKEN,
        INIT_DATA,
        "m3trics-Token",
        exc_info=exc_info,
        reason=f"token {TOKEN}",
    )
    assert RedactFilter((TOKEN, "m3trics-Token", "")).filter(rec)
    text = JsonFormatter().format(rec)
    line = orjson.loads(text)
    for secret in (TOKEN, "AAHsecret", "m3trics-Token", "auth_date", "ab" * 32):
        assert secret not in text, secret
    assert "bot***/getMe" in line["message"] and "<init-data>" in line["message"]
    assert "RuntimeError" in line["exception"] and "bot***/getUpdates" in line["exception"]
    assert line["reason"] == "token ***"


def test_log_format_is_an_infrastructure_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no tondonate.toml here
    assert load_config(None, env={}).log.format == "text"
    assert load_config(None, env={"TONDONATE_LOG_FORMAT": "json"}).log.format == "json"
    with pytest.raises(ConfigError, match="log.format"):
        load_config(None, env={"TONDONATE_LOG_FORMAT": "xml"})


def test_the_cli_writes_json_lines_without_the_token(tmp_path):
    """The CLI's own plumbing (setup_logging, then the config) in a fresh process."""
    script = textwrap.dedent(
        f"""
        import logging
        from tondonate.cli.options import State, setup_logging
        setup_logging(0)
        State(config_path=None, verbose=0).config()
        log = logging.getLogger("tondonate.test")
        log.info("payment credited charge_id=%s tg_id=%s stars=%s", "ch-1", 42, 30)
        log.warning("calling https://api.telegram.org/bot{TOKEN}/getMe with %s", "{INIT_DATA}")
        try:
            raise ValueError("bad token {TOKEN}")
        except ValueError:
            log.exception("crashed tg_id=7")
        logging.getLogger("tondonate.http").debug("not shown without -v")
        """
    )
    env = {**os.environ, "TONDONATE_LOG_FORMAT": "json", "TONDONATE_BOT_TOKEN": TOKEN}
    env.pop("TONDONATE_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert TOKEN not in done.stderr and "auth_date" not in done.stderr
    lines = [orjson.loads(line) for line in done.stderr.splitlines()]
    assert [line["level"] for line in lines] == ["INFO", "WARNING", "ERROR"]
    assert (lines[0]["charge_id"], lines[0]["tg_id"], lines[0]["stars"]) == ("ch-1", 42, 30)
    assert lines[2]["tg_id"] == 7 and "ValueError: bad token ***" in lines[2]["exception"]
