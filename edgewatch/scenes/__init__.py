"""Synthetic scenes with exact ground truth: falling objects from facades, and kitchens.

Used to make the committed sample videos, the benchmark sets and the kitchen training data.
"""
