"""Data access: MongoDB and EC2 behind small functions."""
