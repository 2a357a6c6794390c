"""Tables as CSV text for downloads, rounded to the digits each column can honestly carry.

Floats computed as means or differences carry binary noise (8.625000000000005); every CSV the lab
offers goes through ``csv_text`` so that a student opening it in a spreadsheet sees 8.625.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

# Percent of test images, averaged over seeds: three decimals keep every mean of up to 10,000 images
# and 8 seeds distinct (one image in 10,000 is 0.01%) without the float noise.
PERCENT_DIGITS = 3
# Cross-entropy in nats and other quantities without a natural grain.
DEFAULT_DIGITS = 4


def rounded(
    frame: pd.DataFrame, digits: Mapping[str, int] | None = None, default: int = DEFAULT_DIGITS
) -> pd.DataFrame:
    """A copy of ``frame`` with each float column rounded to ``digits[column]`` decimals (``default``
    for the others); integer, text and boolean columns, and the index, are left as they are."""
    digits = digits or {}
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_float_dtype(out[column]):
            out[column] = out[column].round(digits.get(column, default))
    return out


def csv_text(
    frame: pd.DataFrame, digits: Mapping[str, int] | None = None, default: int = DEFAULT_DIGITS, index: bool = False
) -> str:
    """``frame`` as CSV text, rounded as ``rounded`` does."""
    return rounded(frame, digits, default).to_csv(index=index)
