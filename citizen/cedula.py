"""Uruguayan cédula de identidad: the check digit algorithm.

The body (up to 7 digits, left-padded with zeros) is weighted digit by digit
with 2, 9, 8, 7, 6, 3, 4; the check digit is (10 - sum mod 10) mod 10.
"""

from __future__ import annotations

WEIGHTS = (2, 9, 8, 7, 6, 3, 4)
MIN_DIGITS = 2
MAX_DIGITS = 8


def check_digit(body: str) -> int:
    """Check digit of a cédula body of 1 to 7 digits."""
    if not body.isascii() or not body.isdigit() or not 1 <= len(body) <= 7:
        raise ValueError("a cédula body is 1 to 7 digits")
    padded = body.rjust(7, "0")
    total = sum(int(d) * w for d, w in zip(padded, WEIGHTS, strict=True))
    return (10 - total % 10) % 10


def is_valid(cedula: str) -> bool:
    """True for a cédula written as digits only, its last digit being the check digit."""
    if not cedula.isascii() or not cedula.isdigit():
        return False
    if not MIN_DIGITS <= len(cedula) <= MAX_DIGITS:
        return False
    body, check = cedula[:-1], int(cedula[-1])
    if int(body) == 0:
        return False
    return check_digit(body) == check


def normalise(cedula: str) -> str:
    """Canonical form used for look-ups: body left-padded to 7 digits plus check digit."""
    if not is_valid(cedula):
        raise ValueError("invalid cédula")
    return cedula[:-1].rjust(7, "0") + cedula[-1]
