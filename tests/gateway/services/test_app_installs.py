"""Who installs a partner's app: the app's popularity times each subscriber's segments (age, interests, phone OS).

Install chances (``gateway.services.apps.installs``): popularity × an age weight (1.3 under 25, 1.1 to 44, 0.8 to
64, 0.5 from 65) × an interest weight (1.6 when the subscriber likes one of the app's categories, else 0.5), and
none on a phone OS the app does not support. The draws are compared with those weights on a world large enough for
the shares to show them.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from gateway.services.apps.installs import draw_app
from gateway.services.apps.model import AppSpec
from simulator.segments import Segment
from simulator.world import World, WorldConfig

SHOP = AppSpec("Shoply", ("ANDROID", "IOS"), ("SHOPPING",), 0.3, 6000)


@pytest.fixture(scope="module")
def town() -> World:
    return World.build(WorldConfig(city="berlin", subscribers=20_000, seed=7))


def _installed(world: World, spec: AppSpec, app_seq: int = 1) -> NDArray[np.bool_]:
    table, _ = draw_app(world, app_seq, spec)
    installed = np.zeros(world.subscriber_count, dtype=bool)
    installed[table.subscriber] = True
    return installed


def test_interested_subscribers_install_about_three_times_as_often(town: World) -> None:
    """Among subscribers of the same ages, those who like shopping install a shopping app 1.6 / 0.5 = 3.2 times as
    often as those who do not."""
    subs = np.arange(town.subscriber_count)
    installed = _installed(town, SHOP)
    ages = town.ages(subs)
    same_ages = (ages >= 25) & (ages < 45)
    likes = town.segment_mask(subs, Segment(interests_any=("SHOPPING",)))
    ratio = installed[likes & same_ages].mean() / installed[~likes & same_ages].mean()
    assert 2.5 < ratio < 4.0


def test_the_young_install_about_two_and_a_half_times_as_often_as_the_old(town: World) -> None:
    """Among subscribers who like the app's category, under-25s install it 1.3 / 0.5 = 2.6 times as often as
    subscribers of 65 and over."""
    subs = np.arange(town.subscriber_count)
    installed = _installed(town, SHOP)
    ages = town.ages(subs)
    likes = town.segment_mask(subs, Segment(interests_any=("SHOPPING",)))
    ratio = installed[likes & (ages < 25)].mean() / installed[likes & (ages >= 65)].mean()
    assert 2.0 < ratio < 3.3


def test_an_app_for_one_platform_is_installed_only_on_its_phones(town: World) -> None:
    """An iOS-only app has no install on an Android phone, and about as many on iPhones as a two-platform one."""
    subs = np.arange(town.subscriber_count)
    ios = town.segment_mask(subs, Segment(os=("IOS",)))
    only_ios = _installed(town, AppSpec("Shoply", ("IOS",), ("SHOPPING",), 0.3, 6000))
    assert only_ios.any() and not only_ios[~ios].any()
    both = _installed(town, SHOP)
    assert 0.8 < only_ios[ios].mean() / both[ios].mean() < 1.25
