"""The patch series and what is built from it: the pinned base tree, export/apply, wheels,
environments, the series and upstream-suite checks, and the test runner."""
