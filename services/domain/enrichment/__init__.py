"""Enrichment: finding each track on Apple Music, Spotify and YouTube and scoring the candidates."""
