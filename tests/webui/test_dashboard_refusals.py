"""The dashboard counts today's RCPT refusals by reason."""

from __future__ import annotations

from mailgate.shared import refusals
from mailgate.shared.db import utcnow


def test_the_dashboard_shows_todays_refusals_by_reason(browser, db):
    now = utcnow()
    refusals.add_counts(db, {(refusals.hour_of(now), "unknown_recipient"): 7,
                             (refusals.hour_of(now), "invalid_hash"): 3})
    page = browser.get("/").get_data(as_text=True)
    card = page[page.index("Refused at RCPT today"):]
    card = card[:card.index("</section>")]
    assert '<p class="big">10</p>' in card
    assert "<code>unknown_recipient</code> 7" in card and "<code>invalid_hash</code> 3" in card
