"""Storing audio analysis results (services/essentia_api) on tracks."""
