"""Grids, plots, videos and the HTML report."""
