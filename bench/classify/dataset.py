"""Labelled benchmark for column classification: tables built at run time, labels in a YAML file.

The data is generated (Faker with fixed seeds, ``custody.demo.generate_crm``) or read from the
Chinook sample, never real. Labels (the PI type each column holds, or ``null`` for not PI) live in
``ground_truth.yaml`` beside this file, written and reviewed apart from the code; :func:`load`
checks that every generated column has exactly one label and fails otherwise.

Tables (``<group>.<table>``):

- ``chinook.*``: Customer, Employee, Invoice, InvoiceLine, Album, Track from ``Chinook_Sqlite.sqlite``
  (SQLite text dates kept as text; money as decimals, as the loaders do). Skipped, and said so,
  when the file is missing.
- ``crm.*``: the four tables of the generated Chinese CRM (``generate_crm``).
- ``en_us.customers``: Faker ``en_US`` people, identifiers and devices.
- ``intl.contacts``: Faker ``de_DE``, ``fr_FR``, ``ja_JP`` and ``zh_TW`` values under English,
  Japanese and traditional-Chinese headers.
- ``negatives.*``: hard negatives: codes, flags, amounts, order and ticket numbers, Luhn-valid
  tracking numbers outside card ranges, four-part versions, ISBNs, UUIDs, hashes, timestamps,
  product and file names under a ``name`` header, and an English free-text column.
- ``holdout.*``: tables of their own seed and locales (``en_GB`` and ``es_ES`` customers, an
  ``it_IT`` product catalogue of cities, colours and versions used as business data).
- ``holdout2.*``: a second hold-out, made after the first had been used to fix the models
  (``pt_BR``, ``nl_NL`` and ``en_AU`` customers, a ``de_DE`` article list).

Calibration and hold-out: the values-only models (issue 17) were calibrated on ``chinook.*``,
``crm.*`` and ``negatives.*``; the tables listed under ``holdout`` in ``ground_truth.yaml``
(``en_us.customers``, ``intl.contacts`` and ``holdout.*``) were not used to set thresholds, and
``run.py`` prints their F1 apart.

Every table keeps its first ``rows`` rows (default 200), the same cells for every classifier.

Header variants (:data:`HEADERS`): ``normal`` (the names above), ``neutral`` (every column renamed
``c01``, ``c02``, ... in table order: values alone must decide) and ``pinyin`` (the pinyin-initial
names of ``ground_truth.yaml``'s ``pinyin_headers``, as Chinese enterprise schemas write them).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import sqlite3
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import yaml

HERE = Path(__file__).resolve().parent
TRUTH_FILE = HERE / "ground_truth.yaml"
SEED = 20261130
HEADERS = ("normal", "neutral", "pinyin")


@dataclass(frozen=True)
class BenchTable:
    """One benchmark table: ``name`` (``group.table``), the Arrow data, and ``truth``: column -> PI
    type (None: not PI)."""

    name: str
    data: pa.Table
    truth: dict[str, str | None]


def _chinook_path() -> Path | None:
    from custody.demo import loaders

    found = loaders.chinook_dir()
    path = found / "Chinook_Sqlite.sqlite" if found else None
    return path if path is not None and path.is_file() else None


def _chinook(rows: int) -> dict[str, pa.Table]:
    path = _chinook_path()
    if path is None:
        return {}
    out = {}
    with sqlite3.connect(path) as con:
        for name in ("Customer", "Employee", "Invoice", "InvoiceLine", "Album", "Track"):
            cur = con.execute(f'SELECT * FROM "{name}" LIMIT {int(rows)}')
            cols = [c[0] for c in cur.description]
            data = cur.fetchall()
            arrays = {}
            for i, c in enumerate(cols):
                vals = [r[i] for r in data]
                if c in ("Total", "UnitPrice"):
                    arrays[c] = pa.array(
                        [None if v is None else Decimal(str(v)) for v in vals], pa.decimal128(10, 2)
                    )
                else:
                    arrays[c] = pa.array(vals)
            out[f"chinook.{name}"] = pa.table(arrays)
    return out


def _crm(rows: int) -> dict[str, pa.Table]:
    from custody.demo import generate_crm

    crm = generate_crm(contacts=rows, seed=SEED)
    return {f"crm.{name}": crm[name].slice(0, rows) for name in crm}


def _luhn_complete(body: str) -> str:
    from stdnum import luhn

    return body + luhn.calc_check_digit(body)


def _en_us(rows: int) -> pa.Table:
    from faker import Faker

    f = Faker("en_US")
    f.seed_instance(SEED)
    rng = random.Random(SEED)
    return pa.table(
        {
            "customer_id": pa.array(range(1001, 1001 + rows), pa.int64()),
            "first_name": [f.first_name() for _ in range(rows)],
            "last_name": [f.last_name() for _ in range(rows)],
            "name": [f.name() for _ in range(rows)],
            "email": [f.email() for _ in range(rows)],
            "phone_number": [f.phone_number() for _ in range(rows)],
            "street_address": [f.street_address() for _ in range(rows)],
            "city": [f.city() for _ in range(rows)],
            "state": [f.state_abbr() for _ in range(rows)],
            "zipcode": [f.zipcode() for _ in range(rows)],
            "country": ["United States"] * rows,
            "company": [f.company() for _ in range(rows)],
            "date_of_birth": pa.array(
                [f.date_of_birth(minimum_age=5, maximum_age=90) for _ in range(rows)], pa.date32()
            ),
            "ssn": [f.ssn() for _ in range(rows)],
            "credit_card": [f.credit_card_number() for _ in range(rows)],
            "iban": [f.iban() for _ in range(rows)],
            "last_login_ip": [f.ipv4() if rng.random() < 0.8 else f.ipv6() for _ in range(rows)],
            "device_mac": [f.mac_address() for _ in range(rows)],
            "passport_number": [f.passport_number() for _ in range(rows)],
            "job": [f.job() for _ in range(rows)],
            "signup_date": pa.array([f.date_between("-5y", "today") for _ in range(rows)], pa.date32()),
            "balance": pa.array(
                [Decimal(rng.randrange(0, 10**7)) / 100 for _ in range(rows)], pa.decimal128(12, 2)
            ),
        }
    )


def _intl(rows: int) -> pa.Table:
    from faker import Faker

    de, fr, ja, tw = (Faker(loc) for loc in ("de_DE", "fr_FR", "ja_JP", "zh_TW"))
    for i, fk in enumerate((de, fr, ja, tw)):
        fk.seed_instance(SEED + i)
    return pa.table(
        {
            "contact_name": [de.name() for _ in range(rows)],
            "telephone": [de.phone_number() for _ in range(rows)],
            "bank_iban": [de.iban() for _ in range(rows)],
            "email_address": [fr.email() for _ in range(rows)],
            "postal_address": [fr.address().replace("\n", ", ") for _ in range(rows)],
            "social_security_no": [fr.ssn() for _ in range(rows)],
            "氏名": [ja.name() for _ in range(rows)],
            "電話番号": [ja.phone_number() for _ in range(rows)],
            "住所": [ja.address() for _ in range(rows)],
            "生年月日": [ja.date_of_birth().isoformat() for _ in range(rows)],
            "姓名": [tw.name() for _ in range(rows)],
            "手機": [tw.phone_number() for _ in range(rows)],
            "地址": [tw.address() for _ in range(rows)],
        }
    )


def _negatives(rows: int) -> dict[str, pa.Table]:
    from faker import Faker

    rng = random.Random(SEED)
    f = Faker("en_US")
    f.seed_instance(SEED)
    years = [rng.randint(2015, 2025) for _ in range(rows)]
    codes = pa.table(
        {
            "scenario_code": [f"SC-{rng.randrange(1000):03d}" for _ in range(rows)],
            "academic_year_code": [f"{y}-{y + 1}" for y in years],
            "academic_year": pa.array([int(f"{y}{y + 1}") for y in years], pa.int64()),
            "email_verified": pa.array([rng.randint(0, 1) for _ in range(rows)], pa.int64()),
            "phone_verified": pa.array([rng.randint(0, 1) for _ in range(rows)], pa.int64()),
            "amount": pa.array(
                [Decimal(rng.randrange(100, 10**7)) / 100 for _ in range(rows)], pa.decimal128(12, 2)
            ),
            "amount_cents": pa.array([rng.randrange(100, 10**8) for _ in range(rows)], pa.int64()),
            "price_text": [f"{rng.randrange(1, 10**5):,}.{rng.randrange(100):02d}" for _ in range(rows)],
            "order_no": [f"{rng.randrange(10**14, 10**15)}" for _ in range(rows)],
            "ticket_no": [f"{rng.randint(2022, 2026)}{rng.randrange(10**7):07d}" for _ in range(rows)],
            "tracking_no": [
                _luhn_complete("9" + "".join(rng.choice("0123456789") for _ in range(14)))
                for _ in range(rows)
            ],
            "app_version": [
                f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 50)}.{rng.randint(0, 255)}"
                for _ in range(rows)
            ],
            "isbn13": [f.isbn13().replace("-", "") for _ in range(rows)],
            "request_uuid": [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(rows)],
            "content_md5": [hashlib.md5(str(i).encode()).hexdigest() for i in range(rows)],
            "sku": [
                f"{rng.choice('ABCDEFGH')}{rng.randrange(10**6):06d}-{rng.choice(['S', 'M', 'L', 'XL'])}"
                for _ in range(rows)
            ],
            "status": [rng.choice(["active", "closed", "pending"]) for _ in range(rows)],
            "currency": [rng.choice(["CNY", "USD", "EUR", "HKD"]) for _ in range(rows)],
            "created_at": pa.array(
                [
                    dt.datetime(2020, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=rng.randrange(10**8))
                    for _ in range(rows)
                ],
                pa.timestamp("us", tz="UTC"),
            ),
            "signed_on": pa.array(
                [dt.date(2018, 1, 1) + dt.timedelta(days=rng.randrange(2500)) for _ in range(rows)],
                pa.date32(),
            ),
        }
    )
    products = [
        "Cloud ERP Standard",
        "Data Hub Pro",
        "Smart CRM",
        "Analytics Suite",
        "Security Gateway",
        "Mobile Office",
        "HR Cloud",
        "Storage Plus",
        "AI Assistant",
        "Video Meeting",
    ]
    named = pa.table(
        {
            "name": [
                f"{rng.choice(products)} {rng.choice(['v1', 'v2', 'Lite', 'Enterprise', '2026'])}"
                for _ in range(rows)
            ],
            "hostname": [
                f"{rng.choice(['web', 'db', 'cache', 'api'])}-{rng.randrange(100):02d}.prod.internal"
                for _ in range(rows)
            ],
            "file_name": [
                f"{f.word()}_{rng.randrange(10**4)}.{rng.choice(['pdf', 'xlsx', 'docx'])}"
                for _ in range(rows)
            ],
            "product_name": [rng.choice(products) for _ in range(rows)],
            "comments": [f.paragraph(nb_sentences=3) for _ in range(rows)],
        }
    )
    return {"negatives.codes": codes, "negatives.named": named}


def _holdout(rows: int) -> dict[str, pa.Table]:
    """Tables held out from calibration (their own seed and locales): British and Spanish customers
    and an Italian product catalogue of business data (cities, colours, versions: not PI)."""
    from faker import Faker

    gb, es, it, us = (Faker(loc) for loc in ("en_GB", "es_ES", "it_IT", "en_US"))
    for i, fk in enumerate((gb, es, it, us)):
        fk.seed_instance(SEED + 101 + i)
    rng = random.Random(SEED + 101)

    def money() -> Decimal:
        return Decimal(rng.randrange(100, 10**6)) / 100

    customers = pa.table(
        {
            "account_ref": pa.array(range(50001, 50001 + rows), pa.int64()),
            "forename": [gb.first_name() for _ in range(rows)],
            "surname": [gb.last_name() for _ in range(rows)],
            "full_name": [gb.name() for _ in range(rows)],
            "email": [gb.email() for _ in range(rows)],
            "telephone": [gb.phone_number() for _ in range(rows)],
            "address_line": [gb.street_address().replace("\n", ", ") for _ in range(rows)],
            "town": [gb.city() for _ in range(rows)],
            "county": [gb.county() for _ in range(rows)],
            "postcode": [gb.postcode() for _ in range(rows)],
            "country": ["United Kingdom"] * rows,
            "employer": [gb.company() for _ in range(rows)],
            "occupation": [gb.job() for _ in range(rows)],
            "date_of_birth": pa.array(
                [gb.date_of_birth(minimum_age=18, maximum_age=85) for _ in range(rows)], pa.date32()
            ),
            "registered_on": pa.array([gb.date_between("-8y", "today") for _ in range(rows)], pa.date32()),
            "favourite_colour": [us.color_name() for _ in range(rows)],
        }
    )
    clientes = pa.table(
        {
            "id_cliente": pa.array(range(1, rows + 1), pa.int64()),
            "nombre": [es.first_name() for _ in range(rows)],
            "apellidos": [f"{es.last_name()} {es.last_name()}" for _ in range(rows)],
            "telefono": [es.phone_number() for _ in range(rows)],
            "direccion": [es.street_address().strip() for _ in range(rows)],
            "localidad": [es.city() for _ in range(rows)],
            "provincia": [es.state_name() for _ in range(rows)],
            "cp": [es.postcode() for _ in range(rows)],
            "empresa": [es.company() for _ in range(rows)],
            "fecha_nacimiento": [es.date_of_birth(minimum_age=18, maximum_age=90).isoformat() for _ in range(rows)],
            "importe": pa.array([money() for _ in range(rows)], pa.decimal128(12, 2)),
        }
    )
    catalogo = pa.table(
        {
            "codice": [f"{rng.choice('ABCDEFGH')}{rng.randrange(10**5):05d}" for _ in range(rows)],
            "nome_prodotto": [us.catch_phrase() for _ in range(rows)],
            "citta_magazzino": [it.city() for _ in range(rows)],
            "versione": [f"{rng.randint(1, 12)}.{rng.randint(0, 9)}.{rng.randint(0, 30)}" for _ in range(rows)],
            "fornitore": [it.company() for _ in range(rows)],
            "data_rilascio": pa.array([it.date_between("-10y", "today") for _ in range(rows)], pa.date32()),
            "colore": [us.color_name() for _ in range(rows)],
            "prezzo": pa.array([money() for _ in range(rows)], pa.decimal128(12, 2)),
        }
    )
    return {"holdout.gb_customers": customers, "holdout.es_clientes": clientes, "holdout.it_catalogo": catalogo}


def _holdout2(rows: int) -> dict[str, pa.Table]:
    """A second hold-out, added after the first had been used to fix the models and scored once:
    Brazilian, Dutch and Australian customers and a German article list (business data)."""
    from faker import Faker

    br, nl, au, de = (Faker(loc) for loc in ("pt_BR", "nl_NL", "en_AU", "de_DE"))
    for i, fk in enumerate((br, nl, au, de)):
        fk.seed_instance(SEED + 202 + i)
    rng = random.Random(SEED + 202)

    def born(fk) -> dt.date:
        return fk.date_of_birth(minimum_age=18, maximum_age=90)

    clientes = pa.table(
        {
            "codigo": pa.array(range(7001, 7001 + rows), pa.int64()),
            "nome": [br.first_name() for _ in range(rows)],
            "sobrenome": [br.last_name() for _ in range(rows)],
            "telefone": [br.phone_number() for _ in range(rows)],
            "logradouro": [br.street_address() for _ in range(rows)],
            "bairro": [br.bairro() for _ in range(rows)],
            "cidade": [br.city() for _ in range(rows)],
            "uf": [br.estado_sigla() for _ in range(rows)],
            "cep": [br.postcode() for _ in range(rows)],
            "empresa": [br.company() for _ in range(rows)],
            "profissao": [br.job() for _ in range(rows)],
            "nascimento": pa.array([born(br) for _ in range(rows)], pa.date32()),
        }
    )
    klanten = pa.table(
        {
            "klantnummer": pa.array(range(100001, 100001 + rows), pa.int64()),
            "naam": [nl.name() for _ in range(rows)],
            "telefoon": [nl.phone_number() for _ in range(rows)],
            "adres": [nl.street_address() for _ in range(rows)],
            "postcode": [nl.postcode() for _ in range(rows)],
            "woonplaats": [nl.city() for _ in range(rows)],
            "provincie": [nl.administrative_unit() for _ in range(rows)],
            "bedrijf": [nl.company() for _ in range(rows)],
            "geboortedatum": [born(nl).isoformat() for _ in range(rows)],
        }
    )
    members = pa.table(
        {
            "member_no": [f"M{rng.randrange(10**6):06d}" for _ in range(rows)],
            "given_name": [au.first_name() for _ in range(rows)],
            "family_name": [au.last_name() for _ in range(rows)],
            "mobile": [au.phone_number() for _ in range(rows)],
            "street": [au.street_address() for _ in range(rows)],
            "suburb": [au.city() for _ in range(rows)],
            "state": [au.state_abbr() for _ in range(rows)],
            "postcode": [au.postcode() for _ in range(rows)],
            "joined": pa.array([au.date_between("-6y", "today") for _ in range(rows)], pa.date32()),
            "employer": [au.company() for _ in range(rows)],
            "occupation": [au.job() for _ in range(rows)],
        }
    )
    artikel = pa.table(
        {
            "artikelnummer": [f"{rng.randrange(10**7):07d}-{rng.randrange(100):02d}" for _ in range(rows)],
            "bezeichnung": [
                f"{de.word().capitalize()} {rng.choice(['Pro', 'Plus', 'Classic', 'XL'])}" for _ in range(rows)
            ],
            "lagerort": [de.city() for _ in range(rows)],
            "farbe": [de.color_name() for _ in range(rows)],
            "firmware": [
                f"{rng.randint(1, 9)}.{rng.randint(0, 15)}.{rng.randint(0, 40)}.{rng.randint(0, 255)}"
                for _ in range(rows)
            ],
            "hersteller": [de.company() for _ in range(rows)],
            "lieferdatum": pa.array([de.date_between("-3y", "today") for _ in range(rows)], pa.date32()),
            "preis": pa.array([Decimal(rng.randrange(100, 10**6)) / 100 for _ in range(rows)], pa.decimal128(12, 2)),
        }
    )
    return {
        "holdout2.br_clientes": clientes,
        "holdout2.nl_klanten": klanten,
        "holdout2.au_members": members,
        "holdout2.de_artikel": artikel,
    }


def load_truth(path: Path = TRUTH_FILE) -> dict[str, dict[str, str | None]]:
    """``{table: {column: pi_type or None}}`` from ``ground_truth.yaml`` (``labels`` section)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {t: dict(cols) for t, cols in raw["labels"].items()}


def load_holdout(path: Path = TRUTH_FILE) -> frozenset[str]:
    """Names of the tables held out from calibrating the values-only models (``holdout`` section)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return frozenset(raw.get("holdout") or ())


def load_pinyin(path: Path = TRUTH_FILE) -> dict[str, dict[str, str]]:
    """``{table: {column: pinyin header}}`` from ``ground_truth.yaml`` (``pinyin_headers`` section)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {t: dict(cols) for t, cols in raw["pinyin_headers"].items()}


def rename(tables: list[BenchTable], headers: str) -> list[BenchTable]:
    """The same tables and labels under another header variant (:data:`HEADERS`).

    Raises ``ValueError`` for an unknown variant, a column without a pinyin header, or a table
    whose pinyin headers repeat."""
    if headers == "normal":
        return tables
    if headers not in HEADERS:
        raise ValueError(f"unknown header variant {headers!r}; use one of {HEADERS}")
    pinyin = load_pinyin() if headers == "pinyin" else {}
    out = []
    for bt in tables:
        cols = bt.data.column_names
        if headers == "neutral":
            new = [f"c{i + 1:02d}" for i in range(len(cols))]
        else:
            names = pinyin.get(bt.name, {})
            missing = [c for c in cols if c not in names]
            if missing:
                raise ValueError(f"{bt.name}: no pinyin header for {missing}")
            new = [names[c] for c in cols]
            if len(set(new)) != len(new):
                raise ValueError(f"{bt.name}: pinyin headers repeat")
        truth = {n: bt.truth[c] for c, n in zip(cols, new)}
        out.append(BenchTable(bt.name, bt.data.rename_columns(new), truth))
    return out


def load(rows: int = 200) -> tuple[list[BenchTable], list[str]]:
    """Build every benchmark table with its labels; returns ``(tables, notes)``.

    ``notes`` says what was skipped (Chinook missing). Raises ``ValueError`` when a generated
    column has no label, or a label names a column that was not generated.
    """
    truth = load_truth()
    data: dict[str, pa.Table] = {}
    notes: list[str] = []
    chinook = _chinook(rows)
    if not chinook:
        notes.append("Chinook_Sqlite.sqlite not found: chinook.* tables skipped")
    data.update(chinook)
    data.update(_crm(rows))
    data["en_us.customers"] = _en_us(rows)
    data["intl.contacts"] = _intl(rows)
    data.update(_negatives(rows))
    data.update(_holdout(rows))
    data.update(_holdout2(rows))
    tables = []
    for name, table in data.items():
        labels = truth.get(name)
        if labels is None:
            raise ValueError(f"{name}: no labels in {TRUTH_FILE.name}")
        cols, labelled = set(table.column_names), set(labels)
        if cols != labelled:
            raise ValueError(
                f"{name}: unlabelled columns {sorted(cols - labelled)}, "
                f"labels without a column {sorted(labelled - cols)}"
            )
        tables.append(BenchTable(name, table, {c: labels[c] for c in table.column_names}))
    return tables, notes
