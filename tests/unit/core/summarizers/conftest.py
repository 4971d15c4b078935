"""Fixtures for the summarizer unit tests."""

import pytest

from tests.unit.core.summarizers.summarizers_fixtures import planted_data


@pytest.fixture()
def planted() -> dict:
    """A fresh copy of the planted themes (tests may change it)."""
    return planted_data()
