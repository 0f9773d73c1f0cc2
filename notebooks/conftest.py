"""nbval (``pytest --nbval-lax``) runs the notebooks' cells; the ones marked ``# NBVAL_CHECK_OUTPUT`` must
reproduce their stored outputs.

nbval >= 0.10 sends every cell with ``store_history=False``, and IPython then ignores a trailing ``;``
(it looks for the semicolon in the last *stored* input): ``check_cutout(my_cutout);`` would show an
extra ``False`` that Jupyter does not show, and no stored output has. Upstream:
https://github.com/computationalmodelling/nbval/issues/194, https://github.com/ipython/ipython/issues/14162.
Running the cells with history on, as Jupyter does, gives the outputs a reader sees.
"""

from nbval.kernel import RunningKernel


def _execute_cell_input_with_history(self, cell_input, allow_stdin=None):
    return self.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin, stop_on_error=False)


RunningKernel.execute_cell_input = _execute_cell_input_with_history
