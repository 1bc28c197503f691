"""The deal world (``tests/deal/conftest.py``) for the handover commands."""

from deal.conftest import deal_world  # noqa: F401 - a fixture
