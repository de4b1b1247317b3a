"""Step Functions callback pattern (task tokens): toolkit, reference system and embedded local cloud."""

__version__ = "0.1.0"
