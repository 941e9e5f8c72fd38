"""Augmented training sets: WordNet synonyms, round-trip translation, and the on-disk cache of sets."""
