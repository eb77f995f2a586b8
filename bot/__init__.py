"""Derivatives Pressure Score bot."""
