"""Sample schema, dataset loaders and the synthetic generator."""
