import pytest

from tests.marketplace.support import make_curator


@pytest.fixture
def curator(db):
    return make_curator()
