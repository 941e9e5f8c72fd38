"""Quieter third-party libraries: what they print is noise in a sweep log."""


def quiet_transformers() -> None:
    """Weight-loading reports and progress bars are noise in a sweep log."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
