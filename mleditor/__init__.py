"""ML Editor: scores how well a Stack Exchange-style question will be received and recommends edits."""

__version__ = "0.1.0"
