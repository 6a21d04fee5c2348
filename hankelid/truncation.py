"""PLACEHOLDER (being written): balanced truncation."""

from __future__ import annotations


class Reduction:
    pass


def balanced_truncation(sys, order=None, *, tol=None, method="sr", match_dc=False):
    raise NotImplementedError
