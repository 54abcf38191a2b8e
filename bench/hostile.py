"""Hostile client: throws schemathesis and hand-made attacks at a running `tondonate serve`.

    python bench/hostile.py --url http://127.0.0.1:8080 --token 123:ABC [--examples 50]

or, from another script (bench/chaos.py prints it as a table row)::

    from hostile import hostile_run
    result = await hostile_run("http://127.0.0.1:8080", "123:ABC", examples=50)

Two parts, every request counted:

* **schemathesis** loads the server's own ``/api/openapi.json`` and runs every operation
  with data that fits the document and data that does not (``examples`` each), with
  valid initData (signed here with the bot token, as Telegram would) and invalid
  (none, another bot's, expired, garbage).  Checks: no 5xx, a documented status, its
  content type, body schema and headers, and input the document forbids refused (4xx).
* **attacks**: tampered, re-spelt, repeated, expired and future initData; a 10 MB body
  (refused at once, not read whole); paths with a NUL byte or too long; a header over
  the size limit; a request whose headers trickle in (the server must give up on it,
  ``http.header_timeout_seconds``: this part lasts that long).  Each must get a 4xx
  with the standard JSON error body.

A 5xx is a server error; any other departure from the document or from the expected
refusal is a schema violation; ``details`` says what and how to reproduce.  The run
creates users and unpaid invoices (links from the server's Bot API) in the server's
database: point it at a bench or staging server, not at production.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import orjson  # noqa: E402
from yarl import URL  # noqa: E402

from tondonate.emulator import sign_init_data  # noqa: E402

OTHER_TOKEN = "654321:ANOTHER-bot-token"
MAX_DETAILS = 100
SLOW_HEADERS_GIVE_UP = 40.0  # seconds: a server still listening to a trickle by then fails


@dataclasses.dataclass
class HostileResult:
    requests: int = 0
    server_errors: int = 0
    schema_violations: int = 0
    details: list[str] = dataclasses.field(default_factory=list)
    statuses: dict[int, int] = dataclasses.field(default_factory=dict)  # answers by HTTP status

    def note(self, kind: str, text: str) -> None:
        if kind == "server_error":
            self.server_errors += 1
        else:
            self.schema_violations += 1
        if len(self.details) < MAX_DETAILS:
            self.details.append(f"{kind}: {text[:800]}")

    def merge(self, other: HostileResult) -> None:
        self.requests += other.requests
        self.server_errors += other.server_errors
        self.schema_violations += other.schema_violations
        for status, n in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n
        self.details.extend(other.details[: MAX_DETAILS - len(self.details)])


# -- schemathesis ---------------------------------------------------------------------------


def schemathesis_run(base_url: str, authorizations: dict[str, tuple[str | None, int]]) -> HostileResult:
    """Every operation x mode x authorization (name -> (Authorization header or None, examples)).
    Synchronous (schemathesis sends with requests): run it in a worker thread.  Examples are
    never shrunk: a failure is recorded as found, with the request (tests/test_schemathesis.py
    runs this against the app in the test suite)."""
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.failures import FailureGroup
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        negative_data_rejection,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        response_headers_conformance,
        negative_data_rejection,
    ]
    result = HostileResult()
    session = requests.Session()

    def send(case: Any, where: str) -> None:
        result.requests += 1
        try:
            response = case.call(base_url=base_url, session=session, timeout=30)
        except requests.RequestException as exc:  # the server dropped the connection: worth knowing
            result.note("schema_violation", f"{where}: no answer: {exc!r}\n{case.as_curl_command()}")
            return
        result.statuses[response.status_code] = result.statuses.get(response.status_code, 0) + 1
        if response.status_code >= 500:
            result.note(
                "server_error", f"{where}: {response.status_code} {response.text[:300]}\n{case.as_curl_command()}"
            )
            return
        try:
            case.validate_response(response, checks=checks)
        except (AssertionError, FailureGroup) as exc:
            result.note("schema_violation", f"{where}: {exc}")

    def explore(strategy: Any, where: str, examples: int) -> None:
        @settings(
            max_examples=examples,
            phases=[Phase.generate],
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            send(case, where)

        run()

    schema = schemathesis.openapi.from_url(base_url + "/api/openapi.json", timeout=30)
    for found in schema.get_all_operations():
        operation = found.ok()
        modes = [GenerationMode.POSITIVE]
        if len(operation.query) or len(operation.body):  # something to break
            modes.append(GenerationMode.NEGATIVE)
        for (name, (header, examples)), mode in itertools.product(authorizations.items(), modes):
            headers = {"Authorization": header} if header is not None else None
            explore(
                operation.as_strategy(generation_mode=mode, headers=headers),
                f"{operation.label} [{mode.value}, {name}]",
                examples,
            )
    return result


# -- hand-made attacks ------------------------------------------------------------------------


def _reencode(fields: list[tuple[str, str]]) -> str:
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in fields)


def _init_data_attacks(token: str, user: dict) -> dict[str, str]:
    """name -> Authorization header that must be refused with 401."""
    now = int(time.time())
    good = sign_init_data(token, user)
    fields = parse_qsl(good, keep_blank_values=True)
    values = dict(fields)

    def replaced(key: str, value: str) -> str:
        return _reencode([(k, value if k == key else v) for k, v in fields])

    def without(key: str) -> str:
        return _reencode([(k, v) for k, v in fields if k != key])

    other_user = dict(parse_qsl(sign_init_data(token, {**user, "id": user["id"] + 1})))["user"]
    attacks = {
        "tampered user": replaced("user", other_user),
        "tampered auth_date": replaced("auth_date", str(now + 1)),
        "added field": good + "&start_param=ref_1",
        "another bot's token": sign_init_data(OTHER_TOKEN, user),
        "upper-case hash": replaced("hash", values["hash"].upper()),
        "non-ASCII hash": replaced("hash", "é" * 64),
        "short hash": replaced("hash", values["hash"][:10]),
        "no hash": without("hash"),
        "auth_date removed": without("auth_date"),
        "signed without auth_date": sign_init_data(token, user, extra={"auth_date": ""}),
        "expired": sign_init_data(token, user, auth_date=now - 400 * 86_400),
        "from the future": sign_init_data(token, user, auth_date=now + 3600),
        "beyond 64 bits": sign_init_data(token, user, auth_date=10**30),
        "repeated auth_date": good + "&auth_date=" + values["auth_date"],
        "repeated user": good + "&user=" + quote(values["user"], safe=""),
        "repeated hash": good + "&hash=" + values["hash"],
        "not a query string": "%%%",
    }
    return {name: "tma " + raw for name, raw in attacks.items()}


async def _expect_refusal(
    result: HostileResult, session: aiohttp.ClientSession, what: str, method: str, url: Any, **kwargs: Any
) -> None:
    result.requests += 1
    try:
        async with session.request(method, url, **kwargs) as response:
            body = await response.read()
            status, content_type = response.status, response.content_type
    except aiohttp.ClientError as exc:
        result.note("schema_violation", f"{what}: no answer: {exc!r}")
        return
    if status >= 500:
        result.note("server_error", f"{what}: {status} {body[:300]!r}")
    elif not 400 <= status < 500:
        result.note("schema_violation", f"{what}: {status}, a refusal (4xx) was due: {body[:300]!r}")
    elif content_type != "application/json" or not _standard_error(body):
        result.note("schema_violation", f"{what}: {status} without the standard JSON error: {body[:300]!r}")


def _standard_error(body: bytes) -> bool:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    error = data.get("error") if isinstance(data, dict) else None
    return isinstance(error, dict) and isinstance(error.get("code"), str) and isinstance(error.get("message"), str)


async def _raw_exchange(host: str, port: int, request: bytes, timeout: float = 5) -> bytes:
    """Send ``request`` as is; the answer's head and body (by Content-Length), or what came within ``timeout``."""
    reader, writer = await asyncio.open_connection(host, port)
    answer = b""
    try:
        writer.write(request)
        async with asyncio.timeout(timeout):
            answer = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in answer.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            answer += await reader.readexactly(length)
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
    return answer


def _judge_raw(
    result: HostileResult, what: str, answer: bytes, elapsed: float, limit: float, statuses: set[int]
) -> None:
    result.requests += 1
    head, _, body = answer.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    if status >= 500:
        result.note("server_error", f"{what}: {answer[:300]!r}")
    elif status not in statuses or elapsed > limit:
        result.note(
            "schema_violation",
            f"{what}: {answer[:200]!r} after {elapsed:.1f} s; {sorted(statuses)} within {limit} s was due",
        )
    elif b"application/json" not in head.lower() or not _standard_error(body):
        result.note("schema_violation", f"{what}: {status} without the standard JSON error: {answer[:300]!r}")


async def _huge_bodies(result: HostileResult, host: str, port: int, token: str, user: dict) -> None:
    size = 10 * 2**20
    for what, auth, statuses in (
        ("10 MB body, valid initData", "tma " + sign_init_data(token, user), {413}),
        ("10 MB body, no initData", None, {401}),
    ):
        head = (
            f"POST /api/payments/create-invoice HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\nConnection: close\r\n" + (f"Authorization: {auth}\r\n" if auth else "") + "\r\n"
        )
        started = time.monotonic()
        # A fifth of the body only: a server that waits for all 10 MB answers nothing.
        answer = await _raw_exchange(host, port, head.encode() + b'{"stars_amount": 5, "x": "' + b"x" * (size // 5))
        _judge_raw(result, what, answer, time.monotonic() - started, 3.0, statuses)


async def _slow_headers(result: HostileResult, host: str, port: int, token: str, user: dict) -> None:
    """A request whose headers come one line a second: the server must give up (408) and close."""
    result.requests += 1
    reader, writer = await asyncio.open_connection(host, port)
    started = time.monotonic()
    writer.write(b"GET /api/me HTTP/1.1\r\nHost: x\r\n")
    lines = [b"Authorization: tma " + sign_init_data(token, user).encode() + b"\r\n"]
    lines += [b"X-Slow-%d: y\r\n" % n for n in range(int(SLOW_HEADERS_GIVE_UP) + 5)]

    async def trickle() -> None:
        try:
            for line in lines:
                await asyncio.sleep(1)
                writer.write(line)
                await writer.drain()
        except ConnectionError:
            pass

    trickling = asyncio.create_task(trickle())
    try:
        answer = await asyncio.wait_for(reader.read(), timeout=SLOW_HEADERS_GIVE_UP)
    except TimeoutError:
        result.note("schema_violation", f"slow headers: still connected after {SLOW_HEADERS_GIVE_UP:.0f} s")
        return
    except ConnectionError:
        answer = b""
    finally:
        trickling.cancel()
        writer.close()
    elapsed = time.monotonic() - started
    if answer.startswith(b"HTTP/1.1 5"):
        result.note("server_error", f"slow headers: {answer[:200]!r}")
    elif not answer.startswith(b"HTTP/1.1 408 "):
        result.note("schema_violation", f"slow headers: closed after {elapsed:.1f} s with {answer[:200]!r}, not a 408")
    result.details.append(f"info: a slow-header client was cut off after {elapsed:.1f} s")


async def _attacks(base_url: str, token: str, user: dict) -> HostileResult:
    result = HostileResult()
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for name, header in _init_data_attacks(token, user).items():
            for method, path, body in (
                ("GET", "/api/me", None),
                ("GET", "/api/leaderboard/all-time", None),
                ("POST", "/api/payments/create-invoice", {"stars_amount": 5}),
            ):
                await _expect_refusal(
                    result, session, f"initData {name}: {method} {path}", method, base_url + path,
                    headers={"Authorization": header}, json=body,
                )  # fmt: skip
        await _expect_refusal(
            result, session, "header over the size limit", "GET", base_url + "/api/me",
            headers={"Authorization": "tma " + "a" * 9000},
        )  # fmt: skip
        for path in ("/assets/x%00.js", "/api/me%00", "/assets/" + "a" * 5000 + ".js"):
            await _expect_refusal(result, session, f"path {path[:30]}", "GET", URL(base_url + path, encoded=True))
        for path in ("/index.html%00.js", "/" + "a" * 5000, "/" + "a/" * 2100):  # unknown pages: the app's index
            result.requests += 1
            async with session.get(URL(base_url + path, encoded=True)) as response:
                if response.status >= 500:
                    result.note("server_error", f"path {path[:30]}: {response.status}")
    await _huge_bodies(result, host, port, token, user)
    await _slow_headers(result, host, port, token, user)
    return result


async def hostile_run(base_url: str, bot_token: str, examples: int = 50) -> HostileResult:
    base_url = base_url.rstrip("/")
    now = int(time.time())
    user = {"id": 7_000_000_001, "is_bot": False, "first_name": "Hostile", "language_code": "en"}
    newcomer = {**user, "id": 7_000_000_000 + now % 1_000_000 * 2 + 3}
    authorizations: dict[str, str | None] = {
        "valid initData": "tma " + sign_init_data(bot_token, user),
        "a newcomer's initData": "tma " + sign_init_data(bot_token, newcomer, start_param="ref_7000000001"),
        "no Authorization": None,
        "another bot's initData": "tma " + sign_init_data(OTHER_TOKEN, user),
        "expired initData": "tma " + sign_init_data(bot_token, user, auth_date=now - 400 * 86_400),
        "garbage": "tma garbage",
    }
    result = await asyncio.to_thread(
        schemathesis_run, base_url, {name: (header, examples) for name, header in authorizations.items()}
    )
    result.merge(await _attacks(base_url, bot_token, user))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the running server")
    parser.add_argument("--token", required=True, help="its bot token (to sign valid initData)")
    parser.add_argument("--examples", type=int, default=50, help="schemathesis examples per operation, mode and auth")
    args = parser.parse_args()
    started = time.monotonic()
    result = asyncio.run(hostile_run(args.url, args.token, args.examples))
    for line in result.details:
        print(line, end="\n\n")
    print("| requests | 5xx | schema violations | seconds |\n|---:|---:|---:|---:|")
    print(
        f"| {result.requests} | {result.server_errors} | {result.schema_violations} | {time.monotonic() - started:.1f} |"
    )
    sys.exit(1 if result.server_errors or result.schema_violations else 0)


if __name__ == "__main__":
    main()
