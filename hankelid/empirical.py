"""PLACEHOLDER (being written): empirical Gramians."""

from __future__ import annotations


def empirical_gramian(sys, kind, **kwargs):
    raise NotImplementedError
