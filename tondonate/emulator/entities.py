"""Message entities as Telegram computes them: ``parse_mode=HTML`` markup stripped
into (text, entities), and the bot_command entities of incoming user text.  Offsets
and lengths are in UTF-16 code units, as Telegram counts them."""

from __future__ import annotations

import re
from typing import Any

from .params import bad_request


def utf16_len(text: str) -> int:
    # Telegram measures entity offsets and lengths in UTF-16 code units.
    return len(text.encode("utf-16-le")) // 2


# --- parse_mode=HTML --------------------------------------------------------------
_HTML_TOKEN = re.compile(r"<[^>]*>|&(#[0-9]{1,7}|#x[0-9a-fA-F]{1,6}|lt|gt|amp|quot);")
_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_ATTR = re.compile(r"""([a-zA-Z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"']+)))?""")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Strip Telegram-HTML markup into (text, entities), rejecting what Telegram rejects.

    Covers the documented tag set; errors are 400 "can't parse entities: ..."
    like the real API (the wording after the colon is approximate).
    """
    out: list[str] = []
    offset = 0  # UTF-16 position in the produced text
    stack: list[tuple[str, int, dict[str, str]]] = []
    entities: list[dict[str, Any]] = []
    last = 0

    def emit(text: str) -> None:
        nonlocal offset
        out.append(text)
        offset += utf16_len(text)

    for match in _HTML_TOKEN.finditer(source):
        emit(source[last : match.start()])
        last = match.end()
        token = match.group()
        if token.startswith("&"):
            ref = match.group(1)
            emit(_NAMED_ENTITIES.get(ref) or chr(int(ref[2:], 16) if ref[1] == "x" else int(ref[1:])))
            continue
        byte_offset = len(source[: match.start()].encode())
        inner = token[1:-1].strip().rstrip("/").strip()
        closing = inner.startswith("/")
        name, _, rest = inner.lstrip("/").partition(" ")
        name = name.lower()
        attrs = {m[0].lower(): m[1] or m[2] or m[3] for m in _HTML_ATTR.findall(rest)}
        if name not in _HTML_TAGS or (name == "span" and not closing and attrs.get("class") != "tg-spoiler"):
            kind = "end" if closing else "start"
            raise bad_request(f'can\'t parse entities: Unsupported {kind} tag "{name}" at byte offset {byte_offset}')
        if not closing:
            stack.append((name, offset, attrs))
            continue
        if not stack or stack[-1][0] != name:
            expected = f'"</{stack[-1][0]}>"' if stack else "no end tag"
            raise bad_request(
                f"can't parse entities: Unmatched end tag at byte offset {byte_offset}, "
                f'expected {expected}, found "</{name}>"'
            )
        tag, start, tag_attrs = stack.pop()
        if tag == "code" and stack and stack[-1][0] == "pre" and tag_attrs.get("class", "").startswith("language-"):
            stack[-1][2]["language"] = tag_attrs["class"][len("language-") :]
            continue  # <pre><code class="language-x"> is one "pre" entity with a language
        entity: dict[str, Any] = {"offset": start, "length": offset - start, "type": _HTML_TAGS[tag]}
        if tag == "a":
            entity["url"] = tag_attrs.get("href", "")
        elif tag == "pre" and tag_attrs.get("language"):
            entity["language"] = tag_attrs["language"]
        elif tag == "blockquote" and "expandable" in tag_attrs:
            entity["type"] = "expandable_blockquote"
        elif tag == "tg-emoji":
            entity["custom_emoji_id"] = tag_attrs.get("emoji-id", "")
        if entity["length"] > 0:
            entities.append(entity)
    emit(source[last:])
    if stack:
        raise bad_request(f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1][0]}\"")
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


_BOT_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")


def command_entities(text: str) -> list[dict[str, Any]]:
    """The bot_command entities Telegram attaches to incoming user text."""
    return [
        {"offset": utf16_len(text[: m.start()]), "length": utf16_len(m.group()), "type": "bot_command"}
        for m in _BOT_COMMAND.finditer(text)
    ]
