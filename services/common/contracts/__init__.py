"""Pydantic data contracts shared between services (one module per service boundary)."""
