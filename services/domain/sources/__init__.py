"""Metadata sources (beets-style): one module per service behind `base.MetadataSource`."""
