"""A HiGHS whose warm solutions miss their rows, as HiGHS 1.16's now and then do."""

from __future__ import annotations

import numpy as np


class Drifting:
    """Wraps a Highs: until the solver is cleared (a solve from scratch), the column values
    it returns are scaled by 1 + `shift` and shifted by `shift`, which misses equality rows
    of every size. With 500 futures, about 1 warm solve in 3,000 came back from HiGHS as
    optimal with a row missed by up to 7.2e-6."""

    def __init__(self, highs, shift: float = 1e-5):
        self.highs, self.shift, self.cold = highs, shift, False

    def __getattr__(self, name):
        return getattr(self.highs, name)

    def clearSolver(self):
        self.cold = True
        return self.highs.clearSolver()

    def getSolution(self):
        solution = self.highs.getSolution()
        if not self.cold:
            values = np.asarray(solution.col_value)
            solution.col_value = (values * (1 + self.shift) + self.shift).tolist()
        return solution
