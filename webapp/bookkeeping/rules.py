"""How the proposer reads a transaction: normalised match keys and the keyword rules it falls back on."""
from __future__ import annotations

import re
from dataclasses import dataclass

from webapp.bookkeeping.accounts import UNCATEGORIZED_EXPENSE, UNCATEGORIZED_INCOME

PATTERN_WORDS = 4
_TOKEN = re.compile(r"[a-z0-9]+")


def counterparty_key(counterparty: str | None) -> str | None:
    """Case- and spacing-insensitive key of a counterparty name, or None when there is none."""
    if counterparty is None:
        return None
    key = " ".join(_TOKEN.findall(counterparty.lower()))
    return key[:200] or None


def description_pattern(description: str) -> str:
    """The first few words of a description without numbers or reference codes ('UBER *TRIP 8ZK2' → 'uber trip')."""
    words = [w for w in _TOKEN.findall(description.lower()) if not any(ch.isdigit() for ch in w)]
    return " ".join(words[:PATTERN_WORDS])[:120]


@dataclass(frozen=True)
class KeywordRule:
    """Words that, found in a description or counterparty, point at an account code."""

    code: str
    words: tuple[str, ...]
    money_in: bool = False


# Confidence of a keyword match and of the uncategorised fallback, in percent.
KEYWORD_CONFIDENCE = 70
FALLBACK_CONFIDENCE = 30

RULES: tuple[KeywordRule, ...] = (
    KeywordRule("4900", ("interest",), money_in=True),
    KeywordRule("4100", ("consulting", "services", "retainer"), money_in=True),
    KeywordRule("4000", ("invoice", "payout", "sale", "sales", "deposit", "stripe", "square", "shopify"),
                money_in=True),
    KeywordRule("6100", ("fee", "fees", "overdraft", "charge")),
    KeywordRule("6600", ("uber", "lyft", "airline", "airlines", "hotel", "airbnb", "delta", "united", "taxi",
                         "flight", "rail")),
    KeywordRule("6500", ("aws", "github", "google", "microsoft", "adobe", "slack", "zoom", "dropbox",
                         "software", "subscription", "saas", "atlassian", "notion")),
    KeywordRule("6200", ("restaurant", "cafe", "coffee", "starbucks", "doordash", "grubhub", "lunch",
                         "dinner", "bar")),
    KeywordRule("6300", ("staples", "office", "supplies", "depot", "paper", "printer")),
    KeywordRule("6400", ("rent", "lease", "landlord", "wework")),
    KeywordRule("6700", ("electric", "power", "water", "gas", "internet", "comcast", "verizon", "att",
                         "phone", "utility", "utilities")),
    KeywordRule("6800", ("payroll", "salary", "wages", "gusto", "adp")),
    KeywordRule("6900", ("legal", "lawyer", "attorney", "accountant", "cpa", "consultant")),
    KeywordRule("6950", ("insurance", "geico", "allstate")),
    KeywordRule("6960", ("irs", "tax", "license", "permit")),
    KeywordRule("6000", ("ads", "advertising", "facebook", "meta", "marketing", "mailchimp")),
    KeywordRule("5000", ("inventory", "wholesale", "supplier")),
)


def match_keyword(description: str, counterparty: str | None, money_in: bool) -> tuple[str, str] | None:
    """Return (account code, matched word) of the first rule for this direction that matches, or None."""
    words = set(_TOKEN.findall(f"{description} {counterparty or ''}".lower()))
    for rule in RULES:
        if rule.money_in != money_in:
            continue
        for word in rule.words:
            if word in words:
                return rule.code, word
    return None


def fallback_code(money_in: bool) -> str:
    """The uncategorised account for this direction of money."""
    return UNCATEGORIZED_INCOME if money_in else UNCATEGORIZED_EXPENSE
