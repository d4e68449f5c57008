"""A property of the admin API: no generated body gets a 5xx, and a refused one changes nothing."""

import datetime as dt
import json

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fixtures.fuzz import ENDPOINTS, bodies
from fixtures.storefront import Site, StorefrontServer

TOKEN = "fuzz-token"
START = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def admin():
    with (
        StorefrontServer(Site(orders=6, seed=3, admin_token=TOKEN, start=START)) as server,
        httpx.Client(base_url=server.url, headers={"X-Admin-Token": TOKEN}, timeout=30) as client,
    ):
        client.post("/__admin/clock", json={"freeze": True})
        yield client


def state(admin) -> dict:
    response = admin.get("/__admin/state")
    assert response.status_code == 200
    return response.json()


def builds_a_big_site(endpoint: str, body: bytes) -> bool:
    """A reset the site accepts that builds thousands of orders: 14 s for the 100,000 it allows, and
    hypothesis draws that bound from the site's own source. The bound is test_admin_api's to check."""
    try:
        orders = json.loads(body).get("orders") if endpoint == "/reset" else None
    except (ValueError, AttributeError, RecursionError):  # not JSON, not an object, nested too deep
        return False
    return type(orders) is int and 1_000 < orders <= 100_000


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_generated_bodies_never_get_a_5xx_and_a_refused_one_changes_nothing(admin, endpoint):
    @settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(body=bodies(endpoint), pick=st.integers(min_value=0))
    def check(body: bytes, pick: int):
        assume(not builds_a_big_site(endpoint, body))
        before = state(admin)
        order = before["orders"][pick % len(before["orders"])]["id"] if before["orders"] else "8100000000000000"
        response = admin.post("/__admin" + endpoint.replace("{id}", order), content=body)
        assert response.status_code < 500, (body[:200], response.text[:300])
        assert response.json()["error"] if response.status_code >= 400 else True
        if response.status_code >= 400:
            assert state(admin) == before, body[:200]
        else:  # an accepted change leaves a site that still serves (once the faults it may ask for are off)
            admin.post("/__admin/clock", json={"freeze": True})
            admin.post("/__admin/faults", json={"clear": True})
            assert admin.get("/login").status_code == 200
            state(admin)

    check()
