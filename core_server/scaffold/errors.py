"""The one error the scaffold raises."""


class ScaffoldError(Exception):
    """A scaffold command cannot do what was asked; the message says why and what would work."""
