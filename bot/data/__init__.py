"""Data shipped with the package: the synthetic demo market (``demo_market.csv.gz``)."""
