"""Central finite differences of a scalar function of an array's entries, for gradient checks in
float64: d f / d arr[idx] ~ (f(arr[idx] + eps) - f(arr[idx] - eps)) / (2 eps). ``f`` reads ``arr``
itself (a closure), which is changed in place and restored after each entry."""
import numpy as np


def central_difference(f, arr, idx, eps=1e-6):
    """The derivative of f() with respect to arr[idx] (arr is left as it was)."""
    old = arr[idx]
    arr[idx] = old + eps
    up = f()
    arr[idx] = old - eps
    down = f()
    arr[idx] = old
    return (up - down) / (2 * eps)


def central_differences(f, arr, eps=1e-6):
    """The derivative of f() with respect to every entry of arr, as an array of arr's shape."""
    g = np.zeros_like(arr)
    for idx in np.ndindex(arr.shape):
        g[idx] = central_difference(f, arr, idx, eps)
    return g
