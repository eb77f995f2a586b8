"""Backtesting over recorded markets."""
