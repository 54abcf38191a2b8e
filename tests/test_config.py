"""Config layering: defaults < toml file < env vars (infrastructure); defaults < toml [settings] < settings table."""

from pathlib import Path

import pytest

from tondonate.config import ConfigError, load_config
from tondonate.settings import (
    SPECS,
    SettingError,
    build_settings,
    load_settings,
    parse_cli_value,
    set_setting,
    unset_setting,
)

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path, text):
    path = tmp_path / "t.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    assert config.db.url == "sqlite:///tondonate.db"
    assert (config.http.host, config.http.port) == ("127.0.0.1", 8080)
    assert (config.http.header_timeout_seconds, config.http.keepalive_seconds) == (10, 150)
    assert config.bot.api_base == "https://api.telegram.org" and config.bot.mode == "polling"


def test_file_then_env(tmp_path):
    path = write(tmp_path, '[bot]\ntoken = "file-token"\n[http]\nport = 9000\n[db]\nurl = "sqlite:///a.db"\n')
    config = load_config(path, env={"TONDONATE_BOT_TOKEN": "env-token", "TONDONATE_HTTP_PORT": "9100"})
    assert config.bot.token == "env-token"
    assert config.http.port == 9100
    assert config.db.url == "sqlite:///a.db"


def test_default_file_in_cwd_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tondonate.toml").write_text('[webapp]\nurl = "https://x.example"\n')
    assert load_config(env={}).webapp.url == "https://x.example"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[bot]\nnope = 1\n", "unknown key bot.nope"),
        ("[nosuch]\n", "unknown section"),
        ('[http]\nport = "abc"\n', "must be an integer"),
        ("[bot\n", "not valid TOML"),
        ('[bot]\nmode = "carrier-pigeon"\n', "bot.mode"),
        ('[bot]\nmode = "webhook"\n', "webhook_url"),
        ("[http]\nheader_timeout_seconds = 0\n", "http.header_timeout_seconds must be 1..3600"),
        ("[http]\nkeepalive_seconds = -1\n", "http.keepalive_seconds must be 1..86400"),
    ],
)
def test_bad_files_name_the_problem(tmp_path, text, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config(write(tmp_path, text), env={})


def test_missing_explicit_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_token_not_in_repr(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(env={"TONDONATE_BOT_TOKEN": "123:SECRET"})
    assert "SECRET" not in repr(config) and "SECRET" not in repr(config.bot)


def test_example_toml_lists_every_setting_with_its_default():
    config = load_config(REPO / "tondonate.toml", env={})
    assert set(config.settings) == set(SPECS)
    for key, spec in SPECS.items():
        assert config.settings[key] == spec.default, key


async def test_settings_layers(db, tmp_path):
    path = write(tmp_path, "[settings.tons]\ndecimals = 4\n[settings.leaderboard]\npage_size = 20\n")
    config = load_config(path, env={})
    await set_setting(db, "tons.decimals", 6)
    current = await load_settings(db, config.settings)
    assert current["tons.decimals"] == 6 and current.sources["tons.decimals"] == "database"
    assert current["leaderboard.page_size"] == 20 and current.sources["leaderboard.page_size"] == "file"
    assert current["tons.rounding"] == "down" and current.sources["tons.rounding"] == "default"
    assert await unset_setting(db, "tons.decimals")
    assert (await load_settings(db, config.settings))["tons.decimals"] == 4


def test_bad_file_setting_is_an_error():
    with pytest.raises(SettingError, match="tons.decimals"):
        build_settings({"tons.decimals": 42}, {})


@pytest.mark.parametrize(
    "key, text, expected",
    [
        ("tons.decimals", "3", 3),
        ("donations.presets", "[100, 50, 25]", [100, 50, 25]),
        ("rate.static_tons_per_star", "0.1", "0.1"),
        ("rate.static_tons_per_star", "1000", "1000"),
        ("rate.invert", "true", True),
        ("week.timezone", "UTC", "UTC"),
        ("tons.rounding", "half_even", "half_even"),
        ("admin.ids", "[1, 2]", [1, 2]),
        ("rate.url", "https://example.org/x", "https://example.org/x"),
    ],
)
def test_cli_values_parse(key, text, expected):
    assert parse_cli_value(key, text) == expected


@pytest.mark.parametrize(
    "key, text, fragment",
    [
        ("tons.decimals", "12", "0 to 9"),
        ("tons.decimals", "two", "integer"),
        ("tons.rounding", "sideways", "down, half_up, half_even, up"),
        ("donations.presets", "[1, 2]", "3 positive integers"),
        ("week.timezone", "Mars/Olympus", "IANA"),
        ("rate.static_tons_per_star", "-1", "> 0"),
        ("rate.static_tons_per_star", "NaN", "> 0"),
        # a rate with no upper bound overflowed 64-bit nano-tons (issue #19)
        ("rate.static_tons_per_star", "922338", "at most 1000 tons per Star"),
        ("rate.static_tons_per_star", "1e30", "at most 1000 tons per Star"),
        ("rate.default_tons_per_star", "1000.5", "at most 1000 tons per Star"),
        ("leaderboard.page_size", "0", "1 to 100"),
        ("no.such.key", "1", "unknown setting"),
    ],
)
def test_cli_values_rejected(key, text, fragment):
    with pytest.raises(SettingError, match=fragment):
        parse_cli_value(key, text)


async def test_the_donation_range_is_checked_whichever_way_a_setting_changes(db):
    """set_setting and unset_setting (the CLI and any later admin screen) refuse what leaves no amount."""
    with pytest.raises(SettingError, match="min_stars 20000 > max_stars 10000"):
        await set_setting(db, "donations.min_stars", 20_000)
    with pytest.raises(SettingError, match="min_stars 30 > max_stars 20"):
        await set_setting(db, "donations.max_stars", 20, {"donations.min_stars": 30})  # the file's min counts
    await set_setting(db, "donations.max_stars", 50_000)
    await set_setting(db, "donations.min_stars", 20_000)
    with pytest.raises(SettingError, match="unsetting donations.max_stars would leave no allowed amount"):
        await unset_setting(db, "donations.max_stars")
    current = await load_settings(db, {})
    assert (current["donations.min_stars"], current["donations.max_stars"]) == (20_000, 50_000)  # nothing changed
    await set_setting(db, "tons.decimals", 3)  # other keys are not held to the range
    assert await unset_setting(db, "donations.min_stars") and await unset_setting(db, "donations.max_stars")
