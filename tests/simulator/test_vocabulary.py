"""Vocabularies: the interner and the Faker-drawn names and e-mail parts a population samples from."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.vocabulary import VOCAB_DRAWS_FOREIGN, VOCAB_DRAWS_LOCAL, Interner, Vocabulary

LOCALES = ["de_DE", "en_US", "ko_KR"]  # the city's locale first, then visitors'


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    """Berlin's vocabularies with two visitor locales."""
    return Vocabulary.build(5, LOCALES)


@settings(max_examples=60, deadline=None)
@given(first=st.lists(st.text(max_size=4), max_size=20), then=st.lists(st.text(max_size=4), max_size=20))
def test_interner_codes_decode_to_their_strings_and_never_change(first: list[str], then: list[str]) -> None:
    """Codes index the item list, items are unique in first-seen order, and old codes survive growth."""
    table = Interner()
    before = table.codes(first, np.uint32)
    after = table.codes(then, np.uint32)
    assert [table.items[c] for c in before.tolist()] == first
    assert [table.items[c] for c in after.tolist()] == then
    assert table.items == list(dict.fromkeys([*first, *then]))
    assert table.codes(first, np.uint32).tolist() == before.tolist()
    rebuilt = Interner(table.items)
    assert [rebuilt.add(item) for item in [*first, *then]] == [*before.tolist(), *after.tolist()]


def test_same_seed_same_vocabularies_other_seed_differs(vocab: Vocabulary) -> None:
    """Vocabularies are a function of the seed and the locales."""
    again = Vocabulary.build(5, LOCALES)
    other = Vocabulary.build(6, LOCALES)
    assert again.first_names == vocab.first_names and again.email_users == vocab.email_users
    for locale in LOCALES:
        assert np.array_equal(again.by_locale[locale].last_male, vocab.by_locale[locale].last_male)
    assert other.first_names != vocab.first_names


def test_the_citys_locale_gets_the_most_draws(vocab: Vocabulary) -> None:
    """The first locale has VOCAB_DRAWS_LOCAL names of each kind, visitor locales VOCAB_DRAWS_FOREIGN."""
    assert list(vocab.by_locale) == LOCALES
    assert len(vocab.by_locale["de_DE"].first_female) == VOCAB_DRAWS_LOCAL
    assert len(vocab.by_locale["ko_KR"].last_male) == VOCAB_DRAWS_FOREIGN


def test_codes_index_the_shared_lists(vocab: Vocabulary) -> None:
    """Every locale's codes are valid indices of the shared lists, with the column dtypes."""
    for lv in vocab.by_locale.values():
        for codes, items in ((lv.first_female, vocab.first_names), (lv.first_male, vocab.first_names),
                             (lv.last_female, vocab.last_names), (lv.last_male, vocab.last_names),
                             (lv.users, vocab.email_users), (lv.domains, vocab.email_domains)):
            assert len(codes) and int(codes.max()) < len(items)
        assert lv.first_female.dtype == np.uint16 and lv.users.dtype == np.uint16 and lv.domains.dtype == np.uint8


def test_email_parts_are_safe_to_join(vocab: Vocabulary) -> None:
    """User names start and end with a letter (so user + row index is unambiguous); domains look like domains."""
    assert all(re.match(r"^[a-z][a-z0-9._]*[a-z]$", u) for u in vocab.email_users)
    assert all(re.match(r"^[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]+$", d) for d in vocab.email_domains)
    assert len(set(vocab.email_users)) == len(vocab.email_users)
