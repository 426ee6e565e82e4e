"""Analyses of the 1997 paper, measured with the project's engines.

- :func:`error_flow`: section 3's error-flow analysis. How an error injected at time t scales when it
  reaches t - q, in a conventional logistic unit (vanishing below the critical self-weight 4.0,
  exploding above, as the product of |f'(net) w| per step predicts) and through an LSTM cell's
  constant error carousel (constant).
"""
from ._error_flow import DEFAULT_WEIGHTS, ErrorFlow, error_flow

__all__ = ["DEFAULT_WEIGHTS", "ErrorFlow", "error_flow"]
