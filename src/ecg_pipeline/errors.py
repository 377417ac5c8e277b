"""The one exception type for bad input data or parameters."""


class EcgDataError(ValueError):
    """Bad input: the message names the record, file, class or parameter and what was expected.

    ``key``: the parameter at fault (e.g. ``beta``), set where the raiser knows it, so a caller that
    knows where the parameters came from can name the full key (``runs.nsr_mlp.objective.beta``).
    """

    def __init__(self, message: str = "", *, key: str | None = None):
        super().__init__(message)
        self.key = key
