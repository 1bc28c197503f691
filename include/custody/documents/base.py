"""The base of every sealed document: format name, schema version, identity, seal.

A sealed document is JSON with a ``format`` name, a schema ``version`` and a ``seal``: an
HMAC-SHA256 from the keyring over the canonical JSON (``custody.canonical``) of the document
without its seal (``docs/format.md``, "Sealed documents"). Every document knows its own place
(``Document.key``): a reader checks that the document found at a key is the one that belongs
there, so a sealed document copied over another (an older snapshot's over a newer one, one
run's over another's) is refused by name.

Readers refuse a document whose schema version they do not know rather than guess at its
shape. Error messages name the document key, its format and field paths, never a field's value.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from custody.canonical import canonical_json


class DocumentError(Exception):
    """A document is missing, malformed, of an unknown schema version, unsealed, badly sealed,
    or not the one that belongs where it was found."""


class Mac(Protocol):
    """What sealing needs of a keyring (``custody.crypto.keyring.Keyring``)."""

    def mac(self, data: bytes) -> tuple[str, str]: ...

    def verify_mac(self, kek_id: str, data: bytes, tag: str) -> bool: ...


class Seal(BaseModel):
    """HMAC-SHA256 (hex) over the canonical JSON of a document without its seal, and the KEK it
    was derived from."""

    model_config = ConfigDict(extra="forbid")
    kek_id: str
    hmac_sha256: str


def seal(doc: dict[str, Any], keyring: Mac) -> dict[str, Any]:
    """Return ``doc`` with a ``seal`` field: HMAC over its canonical JSON without ``seal``."""
    body = {k: v for k, v in doc.items() if k != "seal"}
    kek_id, tag = keyring.mac(canonical_json(body))
    return {**body, "seal": {"kek_id": kek_id, "hmac_sha256": tag}}


def verify_seal(doc: dict[str, Any], keyring: Mac, *, name: str) -> None:
    """Raise ``DocumentError`` unless ``doc`` carries a seal that verifies under ``keyring``."""
    s = doc.get("seal") if isinstance(doc, dict) else None
    if not isinstance(s, dict) or not isinstance(s.get("kek_id"), str) or not isinstance(s.get("hmac_sha256"), str):
        raise DocumentError(f"{name}: no seal; refusing an unauthenticated document")
    body = {k: v for k, v in doc.items() if k != "seal"}
    if not keyring.verify_mac(s["kek_id"], canonical_json(body), s["hmac_sha256"]):
        raise DocumentError(f"{name}: seal does not verify (document altered or sealed under another key)")


def _field_errors(exc: ValidationError) -> str:
    # Locations and error types only: pydantic's own message quotes the offending input.
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '<root>'} ({e['type']})" for e in exc.errors()[:5]]
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


class Document(BaseModel):
    """A sealed stage document. Subclasses set ``FORMAT``, ``VERSIONS`` and ``key``.

    ``version``: the schema version the document was written with; the newest is written,
    every one in ``VERSIONS`` is read (a document written before ``version`` existed counts as 1).
    """

    model_config = ConfigDict(extra="forbid")

    FORMAT: ClassVar[str]
    VERSION: ClassVar[int] = 1
    VERSIONS: ClassVar[tuple[int, ...]] = (1,)

    format: str
    version: int = 1
    seal: Seal | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "FORMAT" in cls.__dict__:
            _REGISTRY[cls.__dict__["FORMAT"]] = cls

    def key(self) -> str:
        """Where this document belongs (a staging or store key), from its own identity fields."""
        raise NotImplementedError

    def body(self) -> dict[str, Any]:
        """The JSON-able document without its seal (what the seal covers)."""
        return self.model_dump(mode="json", exclude={"seal"})

    def sealed(self, keyring: Mac) -> dict[str, Any]:
        """The document as sealed JSON (a dict), ready to be written."""
        return seal(self.body(), keyring)

    @classmethod
    def parse(cls, raw: Any, *, name: str) -> Self:
        """Build the model from JSON already read (seal NOT checked; see ``open_sealed``).

        Raises ``DocumentError`` for another format, an unknown schema version or a malformed body.
        """
        if not isinstance(raw, dict):
            raise DocumentError(f"{name}: not a JSON object")
        fmt = raw.get("format")
        if fmt != cls.FORMAT:
            raise DocumentError(f"{name}: a {fmt!r} document where {cls.FORMAT!r} was expected")
        version = raw.get("version", 1)
        if version not in cls.VERSIONS:
            known = ", ".join(str(v) for v in cls.VERSIONS)
            raise DocumentError(
                f"{name}: {cls.FORMAT} schema version {version!r} is not one this Custody reads ({known}); "
                "it was written by another release: upgrade Custody, or rerun the stage that wrote it"
            )
        try:
            return cls.model_validate({**raw, "version": version})
        except ValidationError as exc:
            raise DocumentError(f"{name}: malformed {cls.FORMAT} document: {_field_errors(exc)}") from None

    @classmethod
    def open_sealed(cls, raw: Any, keyring: Mac, *, name: str, key: str | None = None) -> Self:
        """Verify the seal of ``raw``, parse it, and check that it belongs at ``key`` (if given).

        Raises ``DocumentError``.
        """
        verify_seal(raw, keyring, name=name)
        doc = cls.parse(raw, name=name)
        if key is not None and doc.key() != key:
            raise DocumentError(
                f"{name}: the document found here belongs at {doc.key()} (copied or moved); refusing it"
            )
        return doc


_REGISTRY: dict[str, type[Document]] = {}


def document_types() -> dict[str, type[Document]]:
    """Every sealed document model by its ``format`` name (for tests and ``docs/format.md``)."""
    return dict(_REGISTRY)
