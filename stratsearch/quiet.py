"""Quieter third-party libraries: what they print is noise in a sweep log."""


def quiet_transformers() -> None:
    """Weight-loading reports and progress bars are noise in a sweep log."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


# transformers ≥ 5.25 swaps layers for kernels fetched from the Hugging Face Hub unless told not to:
# nothing may be downloaded at run time, and a kernelized model re-kernelizes on every `.train()`
# (which fails on an encoder whose layers the frozen-prefix cache has lent out). Every model we
# load passes this.
NO_HUB_KERNELS = {"use_kernels": False}
