"""Value-level predicates behind the custom GX expectations.

Plain Python, no Great Expectations import, so they can be unit-tested and reused (for example by
the classifier) without paying the GX import cost. Every predicate takes one non-null cell value
and returns ``bool``; none of them raises on bad input and none of them logs.

Decisions (also enforced by the tests):

* ``is_cn_resident_id``: 18-character second-generation number (GB 11643-1999). The value is
  NFKC-normalised (full-width digits and ``Ｘ`` become ASCII), stripped of surrounding
  whitespace and upper-cased, so a lower-case ``x`` check character passes. Then: 17 ASCII
  digits plus ``[0-9X]``; check character per ISO 7064 MOD 11-2
  (``stdnum.cn.ric.calc_check_digit``); birth date (positions 7-14) a real calendar date between
  1900-01-01 and today. The six-digit address code is deliberately NOT looked up: codes of
  abolished or merged counties stay valid on cards already issued, and python-stdnum's
  ``validate`` would reject them. 15-digit first-generation numbers fail (they stopped being
  valid identity documents on 2013-01-01). Internal spaces or dashes fail.
* ``is_cn_mobile``: mainland mobile number. NFKC first (full-width digits, full-width ``＋``),
  then spaces and dashes are dropped, then an optional ``+86`` or ``0086`` prefix, then exactly
  ``1[3-9]`` followed by nine digits. With ``strict=True`` the number must additionally be a
  mobile range allocated in libphonenumber's metadata (``phonenumbers``); the default is the
  structural check only, because the metadata lags new allocations (about 1.7 % of numbers drawn
  by Faker ``zh_CN``, e.g. the 149 data-card range, fail the strict check).
* ``is_cn_bank_card``: bank card number (ISO/IEC 7812, UnionPay cards start 62). NFKC, then
  spaces and dashes dropped; 16 to 19 ASCII digits; Luhn check (``stdnum.luhn``). An ``int`` is
  read as its decimal digits. A card failing Luhn fails the check (a data-quality finding); the
  column stays sensitive in the classification.
* ``is_uscc``: unified social credit code (GB 32100-2015). NFKC, surrounding whitespace stripped,
  upper-cased; 18 characters from ``0-9A-Z`` without ``I O S V Z``; weighted mod-31 check
  character via ``stdnum.cn.uscc``. Internal spaces fail.
* ``is_email``: syntax only, through ``email_validator.validate_email`` with
  ``check_deliverability=False`` (no DNS). Internationalised addresses (``张三@例子.中国``) pass;
  surrounding whitespace fails.
"""

from __future__ import annotations

import datetime as _dt
import re
import unicodedata
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from stdnum import luhn as _luhn
from stdnum.cn import ric as _ric
from stdnum.cn import uscc as _uscc

__all__ = [
    "is_cn_bank_card",
    "is_cn_mobile",
    "is_cn_resident_id",
    "is_email",
    "is_uscc",
    "normalise_cn_mobile",
]

_RIC_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_CARD_SHAPE = re.compile(r"[0-9]{16,19}")
_USCC_SHAPE = re.compile(r"[0-9A-HJ-NP-RTUWXY]{18}")
_MOBILE_SHAPE = re.compile(r"1[3-9][0-9]{9}")
# ASCII hyphen-minus plus the Unicode dashes NFKC leaves alone (U+2010..U+2015, U+2212).
_MOBILE_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212]+")
_EARLIEST_BIRTH = _dt.date(1900, 1, 1)
_MOBILE_TYPES = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)


def _text(value: Any) -> str | None:
    """Return ``value`` as text for the string predicates (``int`` allowed), else ``None``."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def is_cn_resident_id(value: Any, *, today: _dt.date | None = None) -> bool:
    """Whether ``value`` is a well-formed 18-character PRC resident identity card number.

    ``value``: ``str`` (or ``int``, read as its decimal digits). ``today`` (default the local
    date) bounds the birth date from above. Returns ``False`` for anything else; never raises.
    See the module docstring for the exact rule (the address code is not checked).
    """
    text = _text(value)
    if text is None:
        return False
    number = unicodedata.normalize("NFKC", text).strip().upper()
    if not _RIC_SHAPE.fullmatch(number):
        return False
    try:
        if number[-1] != _ric.calc_check_digit(number):
            return False
        born = _ric.get_birth_date(number)
    except ValueError:  # stdnum's ValidationError (no such date, bad region) is a ValueError
        return False
    return _EARLIEST_BIRTH <= born <= (today or _dt.date.today())


def normalise_cn_mobile(value: Any) -> str | None:
    """Return the 11-digit national form of a mainland mobile number, or ``None``.

    Accepts ``str`` or ``int``. Applies NFKC, drops spaces and dashes, strips one ``+86`` or
    ``0086`` prefix, and requires ``1[3-9]`` plus nine digits. Never raises.
    """
    text = _text(value)
    if text is None:
        return None
    number = _MOBILE_SEPARATORS.sub("", unicodedata.normalize("NFKC", text))
    if number.startswith("+86"):
        number = number[3:]
    elif number.startswith("0086"):
        number = number[4:]
    return number if _MOBILE_SHAPE.fullmatch(number) else None


def is_cn_mobile(value: Any, *, strict: bool = False) -> bool:
    """Whether ``value`` is a mainland China mobile number (see ``normalise_cn_mobile``).

    ``strict=True`` also requires libphonenumber to classify ``+86<number>`` as a valid mobile
    (or fixed-line-or-mobile) number of an allocated range. Never raises.
    """
    number = normalise_cn_mobile(value)
    if number is None:
        return False
    if not strict:
        return True
    try:
        parsed = phonenumbers.parse("+86" + number, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(parsed) and phonenumbers.number_type(parsed) in _MOBILE_TYPES


def is_email(value: Any) -> bool:
    """Whether ``value`` is a syntactically valid e-mail address (no DNS lookup). Never raises."""
    if not isinstance(value, str):
        return False
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    except Exception:  # noqa: BLE001 - defensive: odd input must not abort a whole chunk
        return False
    return True


def is_cn_bank_card(value: Any) -> bool:
    """Whether ``value`` is a 16-19 digit bank card number passing the Luhn check (ISO/IEC 7812).

    ``value``: ``str`` (spaces and dashes between digit groups allowed, full-width digits
    normalised) or ``int``. Never raises.
    """
    text = _text(value)
    if text is None:
        return False
    number = _MOBILE_SEPARATORS.sub("", unicodedata.normalize("NFKC", text))
    return bool(_CARD_SHAPE.fullmatch(number)) and _luhn.is_valid(number)


def is_uscc(value: Any) -> bool:
    """Whether ``value`` is an 18-character unified social credit code with a valid GB 32100 check
    character (``stdnum.cn.uscc``). Never raises."""
    if not isinstance(value, str):
        return False
    code = unicodedata.normalize("NFKC", value).strip().upper()
    if not _USCC_SHAPE.fullmatch(code):
        return False
    return bool(_uscc.is_valid(code))  # is_valid itself turns every validation failure into False
