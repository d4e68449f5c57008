import re

import httpx
import pytest

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(response: httpx.Response) -> str:
    match = CSRF.search(response.text)
    assert match, f"no CSRF token on {response.url}"
    return match.group(1)


@pytest.fixture
def buyer_http(storefront):
    """An httpx client signed in to the storefront as the demo buyer."""
    with httpx.Client(base_url=storefront.url, follow_redirects=False, timeout=10) as client:
        token = csrf_from(client.get("/login"))
        response = client.post(
            "/login", data={"email": storefront.email, "password": storefront.password, "csrf_token": token}
        )
        assert response.status_code == 303
        yield client
