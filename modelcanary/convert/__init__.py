"""Conversion between Flagger's Canary resources and ModelRollout, both directions.

Pure: takes and returns plain documents (the CLI reads and writes the files). Every field
dropped, approximated or defaulted on the way is reported in :attr:`Conversion.notes`;
what cannot be converted raises :class:`~modelcanary.errors.ConversionError`.
"""

from ._common import FLAGGER_API_VERSION, Conversion
from ._from_flagger import from_flagger
from ._to_flagger import to_flagger

__all__ = ["FLAGGER_API_VERSION", "Conversion", "from_flagger", "to_flagger"]
