"""Shared helpers for the validation tests: deterministic Chinese CRM-like data built at runtime."""

from __future__ import annotations

import datetime as dt
import os
import random
from decimal import Decimal

import pyarrow as pa
import pytest
from faker import Faker
from stdnum.cn.ric import calc_check_digit

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def resident_id(
    area: str = "110101", born: str = "19800101", seq: str = "123", *, lower_x: bool = False
) -> str:
    """A resident ID with a correct ISO 7064 MOD 11-2 check character."""
    body = f"{area}{born}{seq}"
    number = body + calc_check_digit(body + "0")
    return number.lower() if lower_x else number


def wrong_check(number: str) -> str:
    """The same number with a different (hence wrong) check character."""
    last = number[-1].upper()
    return number[:-1] + ("0" if last != "0" else "1")


def resident_id_with_x(area: str = "110101", born: str = "19800101") -> str:
    """A valid resident ID whose check character is ``X``."""
    for seq in range(1000):
        number = resident_id(area, born, f"{seq:03d}")
        if number.endswith("X"):
            return number
    raise AssertionError("no X check character in range")  # pragma: no cover


def customers(n: int, *, seed: int = 7, id_start: int = 1, camel: bool = False) -> pa.Table:
    """``n`` clean customer rows (8 columns, contract Arrow types); all pass the standard rules."""
    f = Faker("zh_CN")
    f.seed_instance(seed)
    rnd = random.Random(seed)
    areas = ["110101", "310104", "440305", "510107", "320102"]

    def rid() -> str:
        born = dt.date(1950, 1, 1) + dt.timedelta(days=rnd.randint(0, 20000))
        return resident_id(rnd.choice(areas), born.strftime("%Y%m%d"), f"{rnd.randint(0, 999):03d}")

    names = {
        "customer_id": "CustomerId",
        "full_name": "FullName",
        "email": "Email",
        "phone": "Phone",
        "resident_id": "ResidentId",
        "credit_limit": "CreditLimit",
        "birth_date": "BirthDate",
        "created_at": "CreatedAt",
    }
    cols = {
        "customer_id": pa.array(range(id_start, id_start + n), pa.int64()),
        "full_name": pa.array([f.name() for _ in range(n)], pa.string()),
        "email": pa.array(
            [f"u{id_start + i}.{f.user_name()}@{f.free_email_domain()}" for i in range(n)], pa.string()
        ),
        "phone": pa.array([f.phone_number() for _ in range(n)], pa.string()),
        "resident_id": pa.array([rid() for _ in range(n)], pa.string()),
        "credit_limit": pa.array(
            [Decimal(rnd.randint(0, 10**7)) / 100 for _ in range(n)], pa.decimal128(12, 2)
        ),
        "birth_date": pa.array(
            [dt.date(1950, 1, 1) + dt.timedelta(days=rnd.randint(0, 20000)) for _ in range(n)], pa.date32()
        ),
        "created_at": pa.array(
            [
                dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=rnd.randint(0, 10**8))
                for _ in range(n)
            ],
            pa.timestamp("us", tz="UTC"),
        ),
    }
    return pa.table({(names[k] if camel else k): v for k, v in cols.items()})


@pytest.fixture
def fake() -> Faker:
    """Faker ``zh_CN`` with a fixed seed."""
    f = Faker("zh_CN")
    f.seed_instance(20240601)
    return f


@pytest.fixture
def data():
    """The data helpers of this module, as a fixture (test modules never import conftest)."""
    import types

    return types.SimpleNamespace(
        resident_id=resident_id,
        wrong_check=wrong_check,
        resident_id_with_x=resident_id_with_x,
        customers=customers,
    )
