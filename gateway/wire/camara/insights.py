"""The status vocabularies CAMARA's aggregate APIs (``region-device-count``, ``population-density-data``) answer
with.
"""

from __future__ import annotations

from typing import Literal

CountStatus = Literal["SUPPORTED_AREA", "PART_OF_AREA_NOT_SUPPORTED", "AREA_NOT_SUPPORTED",
                      "DENSITY_BELOW_PRIVACY_THRESHOLD", "TIME_INTERVAL_NO_DATA_FOUND"]


DensityStatus = Literal["SUPPORTED_AREA", "PART_OF_AREA_NOT_SUPPORTED", "AREA_NOT_SUPPORTED"]
