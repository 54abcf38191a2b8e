import pytest

from tondonate.i18n import lang_of, t, tons_phrase


@pytest.mark.parametrize(
    "amount, expected",
    [
        ("1", "1 тон"),
        ("2", "2 тона"),
        ("5", "5 тонов"),
        ("11", "11 тонов"),
        ("21", "21 тон"),
        ("14", "14 тонов"),
        ("22", "22 тона"),
        ("112", "112 тонов"),
        ("0.63", "0,63 тона"),
        ("1.00", "1,00 тона"),  # a number with a fractional part, even ,00: the genitive singular
        ("500.00", "500,00 тона"),
        ("561.00", "561,00 тона"),
        ("367.00", "367,00 тона"),
        ("2.0", "2,0 тона"),
        ("21784.50", "21784,50 тона"),
    ],
)
def test_russian_tons(amount, expected):
    assert tons_phrase("ru", amount) == expected


@pytest.mark.parametrize(
    "amount, expected",
    [("1", "1 ton"), ("2", "2 tons"), ("0", "0 tons"), ("1.00", "1.00 tons"), ("12.50", "12.50 tons")],
)
def test_english_tons(amount, expected):
    assert tons_phrase("en", amount) == expected


def test_language_choice_and_texts():
    assert lang_of(None) == "ru" and lang_of("de") == "ru" and lang_of("en-GB") == "en"
    assert t("ru", "paid", tons="12.50") == "Спасибо! Зачислено 12,50 тона."
    assert t("en", "paid", tons="12.50") == "Thank you! 12.50 tons credited."
    assert len(t("ru", "invoice_title", stars=10000)) <= 32
