"""Server-side texts (bot replies, invoice titles) in Russian (default) and English."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "ru": {
        "start": "Привет! Донать Telegram Stars, поднимайся в рейтинге и зови друзей.",
        "start_referred": "Привет! Тебя пригласил друг. Донать Telegram Stars и поднимайся в рейтинге.",
        "open_app": "Открыть рейтинг",
        "no_webapp": "Мини-приложение ещё не настроено администратором.",
        "invoice_title": "Донат {stars} ⭐",
        "invoice_description": "Донат {stars} Telegram Stars в рейтинг: +{tons} тонов.",
        "invoice_label": "Донат",
        "precheckout_unknown": "Этот счёт не найден. Откройте приложение и создайте новый.",
        "precheckout_mismatch": "Сумма или валюта счёта не совпадает. Создайте новый счёт.",
        "precheckout_other_user": "Этот счёт выставлен другому пользователю.",
        "precheckout_blocked": "Платежи для вашего аккаунта отключены.",
        "paid": "Спасибо! Зачислено {tons} тонов.",
    },
    "en": {
        "start": "Hi! Donate Telegram Stars, climb the leaderboard and invite friends.",
        "start_referred": "Hi! A friend invited you. Donate Telegram Stars and climb the leaderboard.",
        "open_app": "Open the leaderboard",
        "no_webapp": "The Mini App is not set up by the admin yet.",
        "invoice_title": "Donation {stars} ⭐",
        "invoice_description": "Donate {stars} Telegram Stars to the leaderboard: +{tons} tons.",
        "invoice_label": "Donation",
        "precheckout_unknown": "This invoice is unknown. Open the app and create a new one.",
        "precheckout_mismatch": "The invoice amount or currency does not match. Create a new invoice.",
        "precheckout_other_user": "This invoice was issued to another user.",
        "precheckout_blocked": "Payments are disabled for your account.",
        "paid": "Thank you! {tons} tons credited.",
    },
}


def lang_of(language_code: str | None) -> str:
    """English for English-speaking clients, Russian otherwise (the default)."""
    return "en" if (language_code or "").lower().startswith("en") else "ru"


def t(language_code: str | None, key: str, **values) -> str:
    return TEXTS[lang_of(language_code)][key].format(**values)
