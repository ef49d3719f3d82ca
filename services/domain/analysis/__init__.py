"""Audio analysis of tracks: uploads, analysis jobs through services/essentia_api, stored results."""
