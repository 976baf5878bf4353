"""QA safety of synthetic identities: e-mails only under reserved domains and made of the person's own names;
with fictional numbers, MSISDNs under +999 and IMSIs of the test network (MCC 001, MNC 01)."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.city import city_from_preset, with_locale
from simulator.numbering import TEST_NETWORK_MCC, TEST_NETWORK_MNC
from simulator.population import Population
from simulator.rng import RngStreams
from simulator.vocabulary import RESERVED_EMAIL_DOMAINS, name_slug

RESERVED = set(RESERVED_EMAIL_DOMAINS)


@pytest.mark.parametrize(("city", "locale"), [
    ("moscow", None),  # Cyrillic names, Faker's domains include mail.ru and yandex.ru
    ("seoul", None),  # Hangul names, naver.com and daum.net
    ("berlin", None),  # umlauts, gmx.de and web.de
    ("new-york", None),  # gmail.com, yahoo.com
    ("berlin", "fr_FR"),  # another locale: orange.fr, free.fr
])
def test_emails_are_reserved_and_match_the_names(city: str, locale: str | None) -> None:
    """Every address is under example.com/.net/.org and its user part is the person's first and last name."""
    c = city_from_preset(city)
    pop = Population.build(with_locale(c, locale) if locale else c, 3_000, RngStreams(5), roaming_share=0.1)
    rows = np.arange(pop.size)
    emails = pop.emails(rows)
    assert {e.rsplit("@", 1)[1] for e in emails} <= RESERVED
    assert len(set(emails)) == pop.size
    firsts = [pop.first_names[k] for k in pop.first_name.tolist()]
    lasts = [pop.last_names[k] for k in pop.last_name.tolist()]
    for email, first, last, row in zip(emails, firsts, lasts, rows.tolist(), strict=True):
        local = email.rsplit("@", 1)[0]
        expected = ".".join(p for p in (name_slug(first), name_slug(last)) if p) or "user"
        assert local == f"{expected}{row}", (email, first, last)
        assert local.isascii()


def test_test_subscriber_email_is_reserved_and_named() -> None:
    """A QA phone's address is made of its given names under example.com."""
    pop = Population.build(city_from_preset("moscow"), 100, RngStreams(1))
    i = pop.append(msisdn="+79161234567", home_xy=(0.0, 0.0), first_name="Иван", last_name="Туманов")
    assert pop.view(i).email == f"ivan.tumanov{i}@example.com"


def test_fictional_numbers_use_the_test_network() -> None:
    """With fictional numbers every IMSI (visitors and QA phones included) is MCC 001 MNC 01, all distinct."""
    pop = Population.build(city_from_preset("berlin"), 3_000, RngStreams(2), fictional_numbers=True,
                           roaming_share=0.2)
    added = [pop.append(msisdn=m, home_xy=(0.0, 0.0)) for m in ("+9990000000001", "+9990000000002")]
    table = pop.table()
    assert all(m.startswith("+999") for m in table["msisdn"])
    assert all(len(i) == 15 and i.startswith(TEST_NETWORK_MCC + TEST_NETWORK_MNC) for i in table["imsi"])
    assert len(set(table["imsi"])) == pop.size
    assert table["imsi"][added[0]] != table["imsi"][added[1]]
    assert set(table["homeCountry"]) != {"DE"}  # visitors keep their home country; only the SIM is a test one


def test_real_numbers_keep_the_home_networks() -> None:
    """Without fictional numbers IMSIs stay on each home country's network (no test-network IMSI)."""
    pop = Population.build(city_from_preset("berlin"), 2_000, RngStreams(2))
    assert not any(i.startswith("00101") for i in pop.table()["imsi"])
