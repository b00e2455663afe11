"""Measuring de-identification: privacy (verification) and utility (similarity)."""
