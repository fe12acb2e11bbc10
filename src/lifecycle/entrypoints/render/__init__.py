"""Renderings of the read side for people: the report as a self-contained HTML page
(:mod:`~lifecycle.entrypoints.render.html`) with its figures
(:mod:`~lifecycle.entrypoints.render.figures`)."""
