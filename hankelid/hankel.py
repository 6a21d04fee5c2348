"""PLACEHOLDER (being written): block Hankel matrices."""

from __future__ import annotations


def hankel_matrix(markov, rows=None, cols=None):
    raise NotImplementedError


def hankel_hsv(markov, rows=None, cols=None):
    raise NotImplementedError
