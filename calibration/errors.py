"""The one error type of the calibration package."""

from __future__ import annotations

from edgewatch.errors import UserError


class CalibrationError(UserError, ValueError):
    """A calibration file, a set of clicked points or a track that cannot be used as given.

    The message names the key (``extrinsics.rvec``, ``points[3].floor``) or the input, says what is wrong and
    what to fix. It is also a ``ValueError`` so that generic validation code can catch it.
    """
