"""The main job (``abae demo``): a built-in dataset end to end through proxy and engine.

The submodules load torch; this package itself is light (the CLI imports
:mod:`abae.demo.choices` to build its ``--help``).

Example:
    >>> from abae.demo.main_job import DemoOptions, run_demo, format_outcome  # doctest: +SKIP
    >>> print(format_outcome(run_demo(DemoOptions(dataset="fashion"))))  # doctest: +SKIP
"""
