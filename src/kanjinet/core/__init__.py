"""Foundations every stage uses: errors, settings fields, atomic writes, progress,
locks, the class tables, KanjiVG strokes, fonts and report figures.

Imports nothing else of kanjinet.
"""
