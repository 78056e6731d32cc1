"""Sparkify pipelines."""
