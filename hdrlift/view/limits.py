"""Sizes of the viewer page (no imports: the command line reads them for its help)."""

#: Long side of the data embedded for ``hdrlift view RESULT`` (larger results are area-averaged down).
VIEW_MAX_SIDE = 2048
#: Long side per photo in a ``--report`` page (every photo of the batch is in the one file).
REPORT_MAX_SIDE = 1024
