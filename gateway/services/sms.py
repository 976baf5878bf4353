"""Text rules of campaign messages: SMS encoding and segments, push limits, sender names, moderation.

Owns GSM 03.38 (7-bit default alphabet and its extension table) versus UCS-2 detection, segment counting as a
handset splits a concatenated SMS (GSM-7: 160 septets alone, 153 per part; UCS-2: 70 UTF-16 units alone, 67
per part; an extension character's escape pair and a surrogate pair are never split across parts), push
title/body limits, the alphanumeric sender rule and the moderation check. Pure functions; no HTTP, no world.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
"""The GSM 03.38 default alphabet (one septet each; the escape code itself is not text)."""
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
"""Characters of the GSM 03.38 extension table: an escape plus one septet, so two septets each."""

MAX_SMS_SEGMENTS = 6
PUSH_TITLE_MAX = 50
PUSH_BODY_MAX = 240
SENDER_MAX = 11
_SENDER = re.compile(r"^[A-Za-z0-9]{1,11}$")
_SENDER_HAS_LETTER = re.compile(r"[A-Za-z]")


@dataclass(frozen=True)
class SmsInfo:
    """How a text travels as SMS: its encoding, length in units (septets or UTF-16 units) and segments."""

    encoding: str  # "GSM-7" or "UCS-2"
    units: int
    segments: int


def is_gsm7(text: str) -> bool:
    """Whether every character is in the GSM 03.38 default alphabet or its extension table."""
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def _pack(widths: list[int], single: int, part: int) -> int:
    total = sum(widths)
    if total <= single:
        return 1 if total else 0
    parts, used = 1, 0
    for w in widths:
        if used + w > part:  # a two-unit character never straddles two parts
            parts += 1
            used = 0
        used += w
    return parts


def sms_info(text: str) -> SmsInfo:
    """Encoding, units and segment count of ``text`` sent as one (possibly concatenated) SMS."""
    if is_gsm7(text):
        widths = [2 if c in GSM7_EXTENSION else 1 for c in text]
        return SmsInfo("GSM-7", sum(widths), _pack(widths, 160, 153))
    widths = [2 if ord(c) > 0xFFFF else 1 for c in text]  # UTF-16 code units; astral characters are pairs
    return SmsInfo("UCS-2", sum(widths), _pack(widths, 70, 67))


def sender_problem(sender: str) -> str | None:
    """Why ``sender`` is not a valid alphanumeric sender id (1-11 letters or digits, at least one letter)."""
    if not _SENDER.match(sender):
        return f"senderName must be 1 to {SENDER_MAX} letters or digits (A-Z, a-z, 0-9)"
    if not _SENDER_HAS_LETTER.search(sender):
        return "senderName must contain a letter (an all-digit sender looks like a phone number)"
    return None


def text_problems(channel: str, text: str, title: str | None) -> list[str]:
    """Every limit the message breaks for ``channel`` (PUSH, SMS or PUSH_THEN_SMS, which must fit both)."""
    problems = []
    if not text.strip():
        problems.append("text must not be blank")
    if channel in ("SMS", "PUSH_THEN_SMS"):
        info = sms_info(text)
        if info.segments > MAX_SMS_SEGMENTS:
            problems.append(f"text is {info.segments} SMS segments ({info.encoding}, {info.units} units); "
                            f"at most {MAX_SMS_SEGMENTS} are allowed")
    if channel in ("PUSH", "PUSH_THEN_SMS"):
        if len(text) > PUSH_BODY_MAX:
            problems.append(f"push body is {len(text)} characters; at most {PUSH_BODY_MAX} are allowed")
        if title is not None and len(title) > PUSH_TITLE_MAX:
            problems.append(f"push title is {len(title)} characters; at most {PUSH_TITLE_MAX} are allowed")
    if channel == "SMS" and title is not None:
        problems.append("title is only for push messages")
    return problems


def moderation_hit(text: str, terms: tuple[str, ...]) -> str | None:
    """The first moderation term found in ``text`` (case-insensitive, on word boundaries), if any."""
    lowered = text.casefold()
    for term in terms:
        if re.search(r"(?<!\w)" + re.escape(term.casefold()) + r"(?!\w)", lowered):
            return term
    return None


def segments_for(units: int, encoding: str) -> int:
    """Segments of a text of ``units`` single-width units (a quick bound used in docs and tests)."""
    single, part = (160, 153) if encoding == "GSM-7" else (70, 67)
    return 0 if units == 0 else 1 if units <= single else math.ceil(units / part)
