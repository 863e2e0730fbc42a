"""Vectorised parsing of many decimal tokens held in one byte buffer.

Each token is `[+-]? digits [. digits]` (at least one digit). Tokens with an exponent, more than 19 digits or
over `_MAX_WIDTH` characters, and results that are not provably correctly rounded, go through Python's
`float()` after a strict regex check, so every result equals `float(token)` exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# Bytes of padding every buffer must start with, so a right-aligned window never starts before 0.
PAD_WIDTH = 32
_MAX_WIDTH = 32
_SHORT_WIDTH = 8
_MAX_DIGITS = 19
_EXACT_MANTISSA = 2**53
_MAX_EXACT_FRACTION = 22

NUMBER_RE = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_POW10_U64 = np.array([10**i for i in range(_MAX_DIGITS + 1)], dtype=np.uint64)
_POW10_F64 = np.array([10.0**i for i in range(_MAX_EXACT_FRACTION + 1)], dtype=np.float64)
_MINUS, _PLUS, _DOT, _ZERO = ord("-"), ord("+"), ord("."), ord("0")
_TEN_OR_ONE = np.array([10, 1], np.uint8)


@dataclass
class ParsedTokens:
    """values float64; ok False where the token is not a number; plain True for unsigned digit-only tokens;
    exact True where `values` is the correctly rounded float64 of the token."""

    values: np.ndarray
    ok: np.ndarray
    plain: np.ndarray
    exact: np.ndarray


def parse_tokens(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> ParsedTokens:
    """Parse tokens buf[starts[i]:ends[i]]; buf must start with PAD_WIDTH non-token bytes."""
    count = len(starts)
    out = ParsedTokens(
        values=np.zeros(count, np.float64),
        ok=np.zeros(count, bool),
        plain=np.zeros(count, bool),
        exact=np.zeros(count, bool),
    )
    # Clipped so int16 cannot wrap; anything over _MAX_WIDTH goes to the fallback anyway.
    lengths = np.minimum(ends - starts, _MAX_WIDTH + 1).astype(np.int16)
    if count:
        short = lengths <= _SHORT_WIDTH
        if short.all():
            _parse_group(buf, ends, lengths, out, slice(None))
        else:
            _parse_group(buf, ends, lengths, out, np.flatnonzero(short))
            _parse_group(buf, ends, lengths, out, np.flatnonzero(~short & (lengths <= _MAX_WIDTH)))
    _fallback(buf, starts, ends, out, np.flatnonzero(~out.ok))
    return out


def _parse_group(
    buf: np.ndarray, ends: np.ndarray, lengths: np.ndarray, out: ParsedTokens, members: slice | np.ndarray
) -> None:
    group_lengths = lengths[members]
    if len(group_lengths):
        _parse_bucket(buf, ends[members], group_lengths, int(group_lengths.max()), out, members)


def _parse_bucket(
    buf: np.ndarray,
    ends: np.ndarray,
    lengths: np.ndarray,
    width: int,
    out: ParsedTokens,
    members: slice | np.ndarray,
) -> None:
    """Parse right-aligned tokens column by column: `width` steps, each over all tokens at once."""
    count = len(ends)
    first_col = width - lengths
    # Columns from `all_inside` on hold token bytes for every token: no padding mask needed there.
    all_inside = int(first_col.max())
    first_char = np.take(buf, ends - lengths)
    negative = first_char == _MINUS
    signed = negative | (first_char == _PLUS)
    # Up to 15 digits a float64 mantissa is exact and faster than uint64.
    mantissa = np.zeros(count, np.float64 if width <= 15 else np.uint64)
    digit_count = np.zeros(count, np.int16)
    dot_count = np.zeros(count, np.int16)
    dot_col = np.zeros(count, np.int16)
    any_dot = False
    window_start = ends - width
    for col in range(width):
        chars = np.take(buf[col:], window_start)
        digit = chars - np.uint8(_ZERO)
        is_digit = digit < 10
        is_dot = chars == _DOT
        if col < all_inside:
            inside = first_col <= col
            is_digit &= inside
            is_dot &= inside
        digit *= is_digit
        digit_count += is_digit
        if is_dot.any():
            any_dot = True
            dot_count += is_dot
            dot_col += is_dot * np.int16(col)
            # A dot keeps the mantissa (times 1, plus its zeroed digit); a digit shifts it in.
            multiplier = _TEN_OR_ONE[is_dot.view(np.uint8)]
            mantissa *= multiplier
            mantissa += digit
        else:
            mantissa *= 10
            mantissa += digit
    ok = (digit_count >= 1) & (digit_count <= _MAX_DIGITS) & (digit_count + dot_count + signed == lengths)
    values = mantissa.astype(np.float64)
    if any_dot:
        fraction = np.where(dot_count == 1, width - 1 - dot_col, 0)
        ok &= (dot_count <= 1) & (fraction <= _MAX_EXACT_FRACTION)
        values /= _POW10_F64[np.minimum(fraction, _MAX_EXACT_FRACTION)]
    np.negative(values, out=values, where=negative)
    exact = ok & (mantissa <= _EXACT_MANTISSA)
    plain = ok & ~signed
    if any_dot:
        plain &= dot_count == 0
    if isinstance(members, slice):
        out.values, out.ok, out.exact, out.plain = values, ok, exact, plain
    else:
        out.values[members] = values
        out.ok[members] = ok
        out.exact[members] = exact
        out.plain[members] = plain


def _fallback(
    buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, out: ParsedTokens, which: np.ndarray
) -> None:
    for i in which.tolist():
        token = buf[starts[i] : ends[i]].tobytes()
        if NUMBER_RE.fullmatch(token):
            out.values[i] = float(token)
            out.ok[i] = out.exact[i] = True
            out.plain[i] = token.isdigit()


def refine_exact(
    buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, parsed: ParsedTokens, which: np.ndarray
) -> None:
    """Re-parse tokens `which` that are not exact with float(), making them correctly rounded float64."""
    inexact = which[~parsed.exact[which]]
    for i in inexact.tolist():
        parsed.values[i] = float(buf[starts[i] : ends[i]].tobytes())
        parsed.exact[i] = True


def to_float32(
    buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, parsed: ParsedTokens, which: np.ndarray
) -> np.ndarray:
    """float32 of tokens `which`, equal to np.float32(float(token)): inexact float64 results (at most 1 ulp
    off) are re-parsed only when they lie close enough to a float32 rounding midpoint to matter."""
    values = parsed.values[which]
    inexact = np.flatnonzero(~parsed.exact[which])
    if len(inexact):
        approx = values[inexact]
        as32 = approx.astype(np.float32)
        up = np.nextafter(as32, np.float32(np.inf)).astype(np.float64)
        down = np.nextafter(as32, np.float32(-np.inf)).astype(np.float64)
        centre = as32.astype(np.float64)
        gap = np.minimum(np.abs(approx - (centre + up) / 2), np.abs(approx - (centre + down) / 2))
        risky = inexact[~(gap > 4 * np.spacing(np.abs(approx)))]
        if len(risky):
            refine_exact(buf, starts, ends, parsed, which[risky])
            values[risky] = parsed.values[which[risky]]
    with np.errstate(over="ignore"):
        return values.astype(np.float32)


def format_label(value: float) -> bytes:
    """An integral label as an integer ("3"), any other as Python's shortest round-trip repr."""
    number = float(value)
    return str(int(number)).encode() if number.is_integer() else repr(number).encode()


def format_float32(values: np.ndarray) -> list[bytes]:
    """The shortest text for each float32 that parse_tokens + to_float32 turn back into the same bits."""
    values = np.asarray(values, dtype=np.float32)
    texts = [str(v).encode() for v in values]
    integral = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2**53)
    for i in np.flatnonzero(integral).tolist():
        texts[i] = str(int(values[i])).encode()
    if not texts:
        return texts
    lengths = np.fromiter((len(text) for text in texts), np.int64, len(texts))
    starts = PAD_WIDTH + np.concatenate(([0], np.cumsum(lengths[:-1] + 1)))
    ends = starts + lengths
    buf = np.frombuffer(b" " * PAD_WIDTH + b" ".join(texts) + b" ", np.uint8)
    parsed = parse_tokens(buf, starts, ends)
    back = to_float32(buf, starts, ends, parsed, np.arange(len(texts)))
    mismatched = ~parsed.ok | (back.view(np.uint32) != values.view(np.uint32))
    for i in np.flatnonzero(mismatched).tolist():
        texts[i] = repr(float(values[i])).encode()
    return texts


def float32_texts(values: np.ndarray) -> np.ndarray:
    """format_float32 of every element, as an object array of the same shape (each distinct value once)."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    distinct = np.unique(bits)
    table = np.array(format_float32(distinct.view(np.float32)), dtype=object)
    return table[np.searchsorted(distinct, bits)]
