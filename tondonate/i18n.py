"""Server-side texts (bot replies, invoice titles) in Russian (default) and English."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "ru": {
        "start": "Привет! Донать Telegram Stars, поднимайся в рейтинге и зови друзей.",
        "start_referred": "Привет! Тебя пригласил друг. Донать Telegram Stars и поднимайся в рейтинге.",
        "open_app": "Открыть рейтинг",
        "no_webapp": "Мини-приложение ещё не настроено администратором.",
        "invoice_title": "Донат {stars} ⭐",
        "invoice_description": "Донат {stars} Telegram Stars в рейтинг: +{tons}.",
        "invoice_label": "Донат",
        "precheckout_unknown": "Этот счёт не найден. Откройте приложение и создайте новый.",
        "precheckout_mismatch": "Сумма или валюта счёта не совпадает. Создайте новый счёт.",
        "precheckout_other_user": "Этот счёт выставлен другому пользователю.",
        "precheckout_blocked": "Платежи для вашего аккаунта отключены.",
        "paid": "Спасибо! Зачислено {tons}.",
    },
    "en": {
        "start": "Hi! Donate Telegram Stars, climb the leaderboard and invite friends.",
        "start_referred": "Hi! A friend invited you. Donate Telegram Stars and climb the leaderboard.",
        "open_app": "Open the leaderboard",
        "no_webapp": "The Mini App is not set up by the admin yet.",
        "invoice_title": "Donation {stars} ⭐",
        "invoice_description": "Donate {stars} Telegram Stars to the leaderboard: +{tons}.",
        "invoice_label": "Donation",
        "precheckout_unknown": "This invoice is unknown. Open the app and create a new one.",
        "precheckout_mismatch": "The invoice amount or currency does not match. Create a new invoice.",
        "precheckout_other_user": "This invoice was issued to another user.",
        "precheckout_blocked": "Payments are disabled for your account.",
        "paid": "Thank you! {tons} credited.",
    },
}


def lang_of(language_code: str | None) -> str:
    """English for English-speaking clients, Russian otherwise (the default)."""
    return "en" if (language_code or "").lower().startswith("en") else "ru"


def tons_phrase(lang: str, amount: str) -> str:
    """``"12.50"`` -> ``"12,50 тона"`` / ``"12.50 tons"``: the number as the language
    writes it and the unit in the right plural form (Russian has three)."""
    if lang == "en":
        return f"{amount} {'ton' if amount == '1' else 'tons'}"
    number = amount.replace(".", ",")
    whole, point, _ = amount.partition(".")
    if point:  # a number with a fractional part, even ,00, takes the genitive singular: 0,63 / 561,00 тона
        return f"{number} тона"
    n = abs(int(whole))
    if n % 10 == 1 and n % 100 != 11:
        return f"{number} тон"
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return f"{number} тона"
    return f"{number} тонов"


def t(language_code: str | None, key: str, **values) -> str:
    """The text ``key`` in the user's language; a ``tons`` value (a decimal string) is
    spelled with its unit."""
    lang = lang_of(language_code)
    if "tons" in values:
        values["tons"] = tons_phrase(lang, values["tons"])
    return TEXTS[lang][key].format(**values)
