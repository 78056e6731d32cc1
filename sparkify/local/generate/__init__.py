"""A synthetic data set in the original export layout, quirks and defects included."""
