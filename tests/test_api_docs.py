"""Swagger UI and Redoc are served from our own static files: the docs work offline (the
browser test, tests/test_operator_browser.py, proves no request leaves the host)."""

import re

import pytest


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_the_api_docs_load_their_scripts_and_styles_from_our_own_static_files(client, page):
    html = client.get(page).content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)

    assert assets and all(asset.startswith("/") for asset in assets), assets
    assert "//" not in "".join(assets)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
