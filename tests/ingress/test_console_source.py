"""The console's Received log offers every way in as a source, and filters on it."""

from __future__ import annotations

from ..conftest import make_mail
from ..webui.conftest import admin, app, browser, client  # noqa: F401 -- the console's fixtures

SOURCES = ("imap", "postmark", "mailgun", "sendgrid")


def test_source_filter_lists_and_filters_the_new_ways_in(browser, receive):  # noqa: F811
    for source in SOURCES:
        receive(make_mail(subject=f"came by {source}"), to=["bugs@reply.example.com"], source=source)
    page = browser.get("/received/").get_data(as_text=True)
    for source in SOURCES:
        assert f'<option value="{source}">{source}</option>' in page
    for source in SOURCES:
        html = browser.get(f"/received/?source={source}").get_data(as_text=True)
        assert f"came by {source}" in html
        assert all(f"came by {other}" not in html for other in SOURCES if other != source)
