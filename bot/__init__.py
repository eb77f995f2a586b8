"""Derivatives Pressure Score bot."""

__version__ = "0.1.0"
