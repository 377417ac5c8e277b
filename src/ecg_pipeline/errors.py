"""The one exception type for bad input data or parameters."""


class EcgDataError(ValueError):
    """Bad input: the message names the record, file, class or parameter and what was expected."""
