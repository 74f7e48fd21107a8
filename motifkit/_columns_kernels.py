"""Batched 2-D Gaussian fits for sub-pixel column refinement (numba + NumPy reference).

Every column is fitted independently with the model

    f(x, y) = B + A * exp(-((x - x0)^2 + (y - y0)^2) / (2 sigma^2))

on the pixels of a disk of radius ``radius`` around its rounded start position,
using Levenberg-Marquardt with Marquardt (diagonal) damping. Pixels outside the
image are skipped, so columns at the border can still be fitted.

:func:`fit_gaussians` is the fast numba kernel (serial: the parallel variant took
three times as long to compile and gains at most 2x on the 2-core target) and
:func:`fit_gaussians_numpy` is a plain NumPy implementation of the very same
algorithm, vectorised over columns, that the tests compare against. Both return
``params`` of shape (N, 5) holding ``(x0, y0, A, sigma, B)`` and a ``status`` array:
0 converged, 1 iteration limit reached (parameters still sane), 2 failed
(non-finite, non-positive amplitude, implausible width, or moved further than
``radius`` from the start); callers should not trust status-2 fits.

It also holds the bilinear patch sampler of :mod:`motifkit.patches`
(:func:`bilinear_patches`, reference :func:`bilinear_patches_numpy`) and the
renderer used for deblending (:func:`render_gaussians`).

numba is imported here only; this module is loaded lazily, when a Gaussian
refinement or bilinear patches are requested.
"""

from __future__ import annotations

import numpy as np

try:  # numba is a core dependency; the guard only keeps the NumPy reference usable
    import numba
except ImportError:  # pragma: no cover - depends on environment
    numba = None

__all__ = [
    "fit_gaussians",
    "fit_gaussians_numpy",
    "render_gaussians",
    "render_gaussians_numpy",
    "bilinear_patches",
    "bilinear_patches_numpy",
    "STATUS_OK",
    "STATUS_MAXITER",
    "STATUS_FAILED",
]

STATUS_OK = 0
STATUS_MAXITER = 1
STATUS_FAILED = 2

_N_PARAMS = 5
_LAMBDA0 = 1e-3
_LAMBDA_UP = 10.0
_LAMBDA_DOWN = 0.3
_LAMBDA_MAX = 1e10


def _window_offsets(radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Integer (dy, dx) offsets of the pixels within ``radius`` of a pixel centre."""
    half = int(np.floor(radius))
    dy, dx = np.mgrid[-half : half + 1, -half : half + 1]
    inside = dx * dx + dy * dy <= radius * radius + 1e-9
    return dy[inside].astype(np.int64), dx[inside].astype(np.int64)


def _initial_guess(values, valid, x_start, y_start, sigma0):
    """Start values per column (NumPy, shared by both implementations)."""
    big = np.where(valid, values, -np.inf).max(axis=1)
    small = np.where(valid, values, np.inf).min(axis=1)
    amplitude = np.maximum(big - small, 1e-12)
    return np.stack(
        [x_start, y_start, amplitude, np.broadcast_to(sigma0, x_start.shape).astype(np.float64), small],
        axis=1,
    )


def _gather(image, positions, radius, add_back=None):
    """Window pixel values, coordinates and validity for every column.

    ``add_back`` (N, 4) rows ``(x0, y0, A, sigma)``: a Gaussian added to each column's
    own window values (used to put a column back into a residual image).
    """
    height, width = image.shape
    dy, dx = _window_offsets(radius)
    cx = np.floor(positions[:, 0] + 0.5).astype(np.int64)
    cy = np.floor(positions[:, 1] + 0.5).astype(np.int64)
    xs = cx[:, None] + dx[None, :]
    ys = cy[:, None] + dy[None, :]
    valid = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
    values = image[np.clip(ys, 0, height - 1), np.clip(xs, 0, width - 1)].astype(np.float64)
    if add_back is not None:
        bx, by, ba, bs = (add_back[:, k : k + 1] for k in range(4))
        values += ba * np.exp(-((xs - bx) ** 2 + (ys - by) ** 2) / (2.0 * bs * bs))
    values = np.where(valid, values, 0.0)
    return values, valid, xs.astype(np.float64), ys.astype(np.float64)


def _check_inputs(image, positions, radius, sigma0, add_back=None):
    image = np.asarray(image)
    image = np.ascontiguousarray(image, dtype=image.dtype if image.dtype in (np.float32, np.float64) else np.float64)
    positions = np.ascontiguousarray(positions, dtype=np.float64).reshape(-1, 2)
    radius = float(radius)
    sigma0 = np.asarray(sigma0, dtype=np.float64)
    if not radius >= 1.0:
        raise ValueError(f"radius must be >= 1 px, got {radius}")
    if sigma0.ndim > 1 or (sigma0.ndim == 1 and sigma0.shape[0] != positions.shape[0]):
        raise ValueError("sigma0 must be a scalar or have one value per position")
    if not np.all(sigma0 > 0):
        raise ValueError("sigma0 must be > 0")
    if add_back is not None:
        add_back = np.asarray(add_back, dtype=np.float64)
        if add_back.shape != (positions.shape[0], 4):
            raise ValueError("add_back must have shape (N, 4): (x0, y0, A, sigma) per column")
    return image, positions, radius, sigma0, add_back


# ----------------------------------------------------------------------------------
# NumPy reference
# ----------------------------------------------------------------------------------
def _model_and_jacobian_numpy(params, xs, ys):
    x0, y0, amp, sig, bg = (params[:, k : k + 1] for k in range(_N_PARAMS))
    ddx = xs - x0
    ddy = ys - y0
    r2 = ddx * ddx + ddy * ddy
    inv_s2 = 1.0 / (sig * sig)
    g = np.exp(-0.5 * r2 * inv_s2)
    model = bg + amp * g
    jac = np.empty(xs.shape + (_N_PARAMS,))
    jac[..., 0] = amp * g * ddx * inv_s2
    jac[..., 1] = amp * g * ddy * inv_s2
    jac[..., 2] = g
    jac[..., 3] = amp * g * r2 * inv_s2 / sig
    jac[..., 4] = 1.0
    return model, jac


def _status_from_params(params, start, radius, converged):
    finite = np.isfinite(params).all(axis=1)
    shift = np.hypot(params[:, 0] - start[:, 0], params[:, 1] - start[:, 1])
    sane = (
        finite
        & (params[:, 2] > 0)
        & (params[:, 3] > 0.2)
        & (params[:, 3] < 2.0 * radius)
        & (shift <= radius)
    )
    status = np.where(converged, STATUS_OK, STATUS_MAXITER)
    return np.where(sane, status, STATUS_FAILED).astype(np.int8)


def fit_gaussians_numpy(
    image, positions, radius, sigma0, max_iter=20, tol=1e-3, fix_sigma=False, add_back=None, init_amplitude=None
):
    """Plain-NumPy batched Levenberg-Marquardt fit (reference for :func:`fit_gaussians`).

    Parameters
    ----------
    image : ndarray, shape (H, W)
    positions : ndarray, shape (N, 2)
        Start positions ``(x, y)`` in pixels.
    radius : float
        Fit window radius in pixels (>= 1).
    sigma0 : float or ndarray, shape (N,)
        Start value of the Gaussian width in pixels.
    max_iter : int
        Maximum number of LM iterations.
    tol : float
        Convergence threshold on the position update in pixels.
    fix_sigma : bool
        Keep the width at ``sigma0`` and fit only position, amplitude and
        background (a 4-parameter fit, well conditioned on small windows).
    add_back : ndarray, shape (N, 4), optional
        ``(x0, y0, A, sigma)`` of a Gaussian added to each column's own window before
        fitting: with ``image`` a residual (image minus a model of all columns) this
        fits every column with its neighbours subtracted.
    init_amplitude : float or ndarray, shape (N,), optional
        Start amplitude (warm start); default: window maximum minus minimum.

    Returns
    -------
    params : ndarray, shape (N, 5)
        ``(x0, y0, A, sigma, B)`` per column.
    status : ndarray of int8, shape (N,)
    """
    image, positions, radius, sigma0, add_back = _check_inputs(image, positions, radius, sigma0, add_back)
    n = positions.shape[0]
    if n == 0:
        return np.zeros((0, _N_PARAMS)), np.zeros(0, np.int8)
    values, valid, xs, ys = _gather(image, positions, radius, add_back)
    weight = valid.astype(np.float64)
    params = _initial_guess(values, valid, positions[:, 0], positions[:, 1], sigma0)
    if init_amplitude is not None:
        params[:, 2] = init_amplitude
    lam = np.full(n, _LAMBDA0)
    active = np.ones(n, bool)
    converged = np.zeros(n, bool)

    model, jac = _model_and_jacobian_numpy(params, xs, ys)
    resid = (values - model) * weight
    cost = (resid * resid).sum(axis=1)
    for _ in range(max_iter):
        if not active.any():
            break
        jw = jac * weight[..., None]
        jtj = np.einsum("npi,npj->nij", jw, jw)
        jtr = np.einsum("npi,np->ni", jw, resid)
        diag = np.einsum("nii->ni", jtj)
        damped = jtj + (lam[:, None] * np.maximum(diag, 1e-12))[:, :, None] * np.eye(_N_PARAMS)
        if fix_sigma:  # decouple the width: its row/column become the identity
            damped[:, 3, :] = 0.0
            damped[:, :, 3] = 0.0
            damped[:, 3, 3] = 1.0
            jtr[:, 3] = 0.0
        try:
            step = np.linalg.solve(damped, jtr[..., None])[..., 0]
        except np.linalg.LinAlgError:  # pragma: no cover - singular only for degenerate windows
            step = np.zeros_like(jtr)
            for k in range(n):
                try:
                    step[k] = np.linalg.solve(damped[k], jtr[k])
                except np.linalg.LinAlgError:
                    active[k] = False
        trial = params + step
        trial_model, trial_jac = _model_and_jacobian_numpy(trial, xs, ys)
        trial_resid = (values - trial_model) * weight
        trial_cost = (trial_resid * trial_resid).sum(axis=1)
        better = active & np.isfinite(trial_cost) & (trial_cost <= cost)
        small_step = np.abs(step[:, :2]).max(axis=1) < tol

        params = np.where(better[:, None], trial, params)
        cost = np.where(better, trial_cost, cost)
        resid = np.where(better[:, None], trial_resid, resid)
        jac = np.where(better[:, None, None], trial_jac, jac)
        lam = np.where(better, lam * _LAMBDA_DOWN, lam * _LAMBDA_UP)

        done = active & better & small_step
        converged |= done
        active &= ~done
        active &= lam < _LAMBDA_MAX  # stuck: no downhill step even with huge damping
    converged |= (~active) & (lam >= _LAMBDA_MAX)  # at a (numerical) minimum
    return params, _status_from_params(params, positions, radius, converged)


# ----------------------------------------------------------------------------------
# numba kernel
# ----------------------------------------------------------------------------------
if numba is not None:

    @numba.njit(cache=True)
    def _cost_and_normal(values, valid, dxi, dyi, half, cx, cy, p, jtj, jtr, gx, gy):
        """Residual sum of squares and normal equations at ``p``.

        The Gaussian is separable, so exp() is evaluated once per window row and
        column (``gx``, ``gy`` scratch arrays of 2 * half + 1) instead of per pixel;
        the 15 distinct normal-matrix terms are accumulated in scalars.
        """
        x0, y0, amp, sig, bg = p[0], p[1], p[2], p[3], p[4]
        inv_s2 = 1.0 / (sig * sig)
        for t in range(2 * half + 1):
            ox = cx + t - half - x0
            oy = cy + t - half - y0
            gx[t] = np.exp(-0.5 * ox * ox * inv_s2)
            gy[t] = np.exp(-0.5 * oy * oy * inv_s2)
        cost = 0.0
        r0 = r1 = r2_ = r3 = r4 = 0.0
        a00 = a01 = a02 = a03 = a04 = a11 = a12 = a13 = a14 = 0.0
        a22 = a23 = a24 = a33 = a34 = a44 = 0.0
        for k in range(values.shape[0]):
            if not valid[k]:
                continue
            ddx = cx + dxi[k] - x0
            ddy = cy + dyi[k] - y0
            g = gx[dxi[k] + half] * gy[dyi[k] + half]
            res = values[k] - (bg + amp * g)
            cost += res * res
            ag = amp * g * inv_s2
            j0 = ag * ddx
            j1 = ag * ddy
            j2 = g
            j3 = ag * (ddx * ddx + ddy * ddy) / sig
            r0 += j0 * res
            r1 += j1 * res
            r2_ += j2 * res
            r3 += j3 * res
            r4 += res
            a00 += j0 * j0
            a01 += j0 * j1
            a02 += j0 * j2
            a03 += j0 * j3
            a04 += j0
            a11 += j1 * j1
            a12 += j1 * j2
            a13 += j1 * j3
            a14 += j1
            a22 += j2 * j2
            a23 += j2 * j3
            a24 += j2
            a33 += j3 * j3
            a34 += j3
            a44 += 1.0
        jtr[0], jtr[1], jtr[2], jtr[3], jtr[4] = r0, r1, r2_, r3, r4
        jtj[0, 0], jtj[0, 1], jtj[0, 2], jtj[0, 3], jtj[0, 4] = a00, a01, a02, a03, a04
        jtj[1, 1], jtj[1, 2], jtj[1, 3], jtj[1, 4] = a11, a12, a13, a14
        jtj[2, 2], jtj[2, 3], jtj[2, 4] = a22, a23, a24
        jtj[3, 3], jtj[3, 4] = a33, a34
        jtj[4, 4] = a44
        for a in range(_N_PARAMS):
            for b in range(a):
                jtj[a, b] = jtj[b, a]
        return cost

    @numba.njit(cache=True)
    def _solve_small(mat, rhs, out):
        """Gaussian elimination with partial pivoting on a small dense system."""
        n = rhs.shape[0]
        a = mat.copy()
        b = rhs.copy()
        for col in range(n):
            piv = col
            best = abs(a[col, col])
            for row in range(col + 1, n):
                if abs(a[row, col]) > best:
                    best = abs(a[row, col])
                    piv = row
            if best == 0.0 or not np.isfinite(best):
                return False
            if piv != col:
                for k in range(n):
                    tmp = a[col, k]
                    a[col, k] = a[piv, k]
                    a[piv, k] = tmp
                tmp = b[col]
                b[col] = b[piv]
                b[piv] = tmp
            for row in range(col + 1, n):
                f = a[row, col] / a[col, col]
                for k in range(col, n):
                    a[row, k] -= f * a[col, k]
                b[row] -= f * b[col]
        for row in range(n - 1, -1, -1):
            acc = b[row]
            for k in range(row + 1, n):
                acc -= a[row, k] * out[k]
            out[row] = acc / a[row, row]
        return True

    @numba.njit(cache=True)
    def _fit_kernel(
        image, dy, dx, starts, sigma0, init_amplitude, use_init, add_back, use_add_back,
        max_iter, tol, fix_sigma, params, converged,
    ):  # fmt: skip
        """Read each column's window straight from ``image`` and fit it (see module doc)."""
        height, width = image.shape
        n = starts.shape[0]
        n_pix = dy.shape[0]
        half = 0
        for k in range(n_pix):
            half = max(half, abs(dx[k]), abs(dy[k]))
        for i in range(n):
            values = np.empty(n_pix)
            valid = np.empty(n_pix, np.bool_)
            gx = np.empty(2 * half + 1)
            gy = np.empty(2 * half + 1)
            cx = int(np.floor(starts[i, 0] + 0.5))
            cy = int(np.floor(starts[i, 1] + 0.5))
            big = -np.inf
            small = np.inf
            for k in range(n_pix):
                x = cx + dx[k]
                y = cy + dy[k]
                inside = (x >= 0) and (x < width) and (y >= 0) and (y < height)
                valid[k] = inside
                if inside:
                    v = image[y, x]
                    if use_add_back:
                        bx = x - add_back[i, 0]
                        by = y - add_back[i, 1]
                        bs = add_back[i, 3]
                        v += add_back[i, 2] * np.exp(-(bx * bx + by * by) / (2.0 * bs * bs))
                    values[k] = v
                    big = max(big, v)
                    small = min(small, v)
                else:
                    values[k] = 0.0
            p = np.empty(_N_PARAMS)
            p[0] = starts[i, 0]
            p[1] = starts[i, 1]
            p[2] = max(big - small, 1e-12)
            p[3] = sigma0[i]
            p[4] = small
            if use_init:
                p[2] = init_amplitude[i]
            jtj = np.empty((_N_PARAMS, _N_PARAMS))
            jtr = np.empty(_N_PARAMS)
            jtj_t = np.empty((_N_PARAMS, _N_PARAMS))
            jtr_t = np.empty(_N_PARAMS)
            damped = np.empty((_N_PARAMS, _N_PARAMS))
            step = np.empty(_N_PARAMS)
            trial = np.empty(_N_PARAMS)
            lam = _LAMBDA0
            cost = _cost_and_normal(values, valid, dx, dy, half, cx, cy, p, jtj, jtr, gx, gy)
            done = False
            for _ in range(max_iter):
                for a in range(_N_PARAMS):
                    for b in range(_N_PARAMS):
                        damped[a, b] = jtj[a, b]
                    damped[a, a] += lam * max(jtj[a, a], 1e-12)
                if fix_sigma:
                    for a in range(_N_PARAMS):
                        damped[3, a] = 0.0
                        damped[a, 3] = 0.0
                    damped[3, 3] = 1.0
                    jtr[3] = 0.0
                if not _solve_small(damped, jtr, step):
                    break
                for a in range(_N_PARAMS):
                    trial[a] = p[a] + step[a]
                # one pass gives the trial cost and, if accepted, the next normal equations
                trial_cost = _cost_and_normal(values, valid, dx, dy, half, cx, cy, trial, jtj_t, jtr_t, gx, gy)
                if np.isfinite(trial_cost) and trial_cost <= cost:
                    for a in range(_N_PARAMS):
                        p[a] = trial[a]
                        jtr[a] = jtr_t[a]
                        for b in range(_N_PARAMS):
                            jtj[a, b] = jtj_t[a, b]
                    cost = trial_cost
                    lam *= _LAMBDA_DOWN
                    if max(abs(step[0]), abs(step[1])) < tol:
                        done = True
                        break
                else:
                    lam *= _LAMBDA_UP
                    if lam >= _LAMBDA_MAX:
                        done = True
                        break
            for a in range(_N_PARAMS):
                params[i, a] = p[a]
            converged[i] = done


def fit_gaussians(
    image, positions, radius, sigma0, max_iter=20, tol=1e-3, fix_sigma=False, add_back=None, init_amplitude=None
):
    """Fit one isotropic 2-D Gaussian plus constant per column (numba).

    Same parameters, algorithm and return values as :func:`fit_gaussians_numpy`;
    falls back to it when numba is unavailable.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[:32, :32]
    >>> img = 5 + 100 * np.exp(-((xx - 15.3) ** 2 + (yy - 16.6) ** 2) / (2 * 2.0 ** 2))
    >>> params, status = fit_gaussians(img, np.array([[15.0, 17.0]]), radius=4, sigma0=1.5)
    >>> np.round(params[0, :2], 3).tolist(), int(status[0])
    ([15.3, 16.6], 0)
    """
    if numba is None:  # pragma: no cover - depends on environment
        return fit_gaussians_numpy(
            image, positions, radius, sigma0, max_iter, tol, fix_sigma, add_back, init_amplitude
        )
    image, positions, radius, sigma0, add_back = _check_inputs(image, positions, radius, sigma0, add_back)
    n = positions.shape[0]
    if n == 0:
        return np.zeros((0, _N_PARAMS)), np.zeros(0, np.int8)
    # one compiled specialisation (compiling takes seconds); the arithmetic is
    # float64 whatever the image dtype
    image = np.ascontiguousarray(image, dtype=np.float32)
    use_init = init_amplitude is not None
    init_amplitude = np.ascontiguousarray(
        np.broadcast_to(init_amplitude, (n,)) if use_init else np.zeros(1), dtype=np.float64
    )
    dy, dx = _window_offsets(radius)
    sigma0 = np.ascontiguousarray(np.broadcast_to(sigma0, (n,)), dtype=np.float64)
    use_add_back = add_back is not None
    add_back = np.ascontiguousarray(add_back if use_add_back else np.zeros((1, 4)))
    params = np.empty((n, _N_PARAMS))
    converged = np.zeros(n, np.bool_)
    _fit_kernel(
        image, dy, dx, positions, sigma0, init_amplitude, use_init, add_back, use_add_back,
        int(max_iter), float(tol), bool(fix_sigma), params, converged,
    )  # fmt: skip
    return params, _status_from_params(params, positions, radius, converged)


# ----------------------------------------------------------------------------------
# rendering fitted columns (for deblending)
# ----------------------------------------------------------------------------------
def render_gaussians_numpy(shape, params, truncate=4.0):
    """Sum of ``A * exp(-r^2 / 2 sigma^2)`` over rows ``(x0, y0, A, sigma)`` (NumPy reference).

    Each Gaussian is drawn on the pixels within ``truncate * sigma`` of its centre.

    Returns
    -------
    ndarray of float64, shape ``shape``
    """
    height, width = shape
    out = np.zeros(shape)
    params = np.asarray(params, dtype=np.float64).reshape(-1, 4)
    for x0, y0, amp, sig in params:
        reach = truncate * sig
        c0, c1 = max(int(np.ceil(x0 - reach)), 0), min(int(np.floor(x0 + reach)), width - 1)
        r0, r1 = max(int(np.ceil(y0 - reach)), 0), min(int(np.floor(y0 + reach)), height - 1)
        if c0 > c1 or r0 > r1:
            continue
        yy, xx = np.mgrid[r0 : r1 + 1, c0 : c1 + 1]
        d2 = (xx - x0) ** 2 + (yy - y0) ** 2
        out[r0 : r1 + 1, c0 : c1 + 1] += np.where(d2 <= reach * reach, amp * np.exp(-d2 / (2 * sig * sig)), 0.0)
    return out


if numba is not None:

    @numba.njit(cache=True)
    def _render_kernel(out, params, truncate):
        height, width = out.shape
        for i in range(params.shape[0]):
            x0, y0, amp, sig = params[i, 0], params[i, 1], params[i, 2], params[i, 3]
            reach = truncate * sig
            c0 = max(int(np.ceil(x0 - reach)), 0)
            c1 = min(int(np.floor(x0 + reach)), width - 1)
            r0 = max(int(np.ceil(y0 - reach)), 0)
            r1 = min(int(np.floor(y0 + reach)), height - 1)
            if c0 > c1 or r0 > r1:
                continue
            inv = 1.0 / (2.0 * sig * sig)
            # separable: one exp per row and per column
            gx = np.empty(c1 - c0 + 1)
            for c in range(c0, c1 + 1):
                gx[c - c0] = np.exp(-(c - x0) * (c - x0) * inv)
            for r in range(r0, r1 + 1):
                dy2 = (r - y0) * (r - y0)
                gy = amp * np.exp(-dy2 * inv)
                for c in range(c0, c1 + 1):
                    if dy2 + (c - x0) * (c - x0) <= reach * reach:
                        out[r, c] += gy * gx[c - c0]


def render_gaussians(shape, params, truncate=4.0):
    """Sum of Gaussians ``(x0, y0, A, sigma)`` on an image of ``shape`` (numba).

    Same result as :func:`render_gaussians_numpy`.
    """
    params = np.ascontiguousarray(np.asarray(params, dtype=np.float64).reshape(-1, 4))
    if numba is None:  # pragma: no cover - depends on environment
        return render_gaussians_numpy(shape, params, truncate)
    out = np.zeros(tuple(int(v) for v in shape))
    _render_kernel(out, params, float(truncate))
    return out


# ----------------------------------------------------------------------------------
# bilinear patch sampling (used by motifkit.patches)
# ----------------------------------------------------------------------------------
def bilinear_patches_numpy(padded, x, y, size):
    """Bilinear patches centred at ``(x, y)`` (coordinates in ``padded``), NumPy reference.

    Patch element ``[k, i, j]`` samples ``padded`` at ``(x[k] + j - h, y[k] + i - h)``,
    ``h = size // 2``; every sample point must have its 2 x 2 support inside ``padded``.

    Returns
    -------
    ndarray of float32, shape (N, size, size)
    """
    half = size // 2
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size + 1, size + 1))
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    fx = (x - x0).astype(np.float32)[:, None, None]
    fy = (y - y0).astype(np.float32)[:, None, None]
    w = windows[y0 - half, x0 - half]  # (n, s+1, s+1)
    top = w[:, :size, :size] * (1 - fx) + w[:, :size, 1:] * fx
    bottom = w[:, 1:, :size] * (1 - fx) + w[:, 1:, 1:] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32, copy=False)


if numba is not None:

    @numba.njit(cache=True)
    def _bilinear_kernel(padded, x, y, size, out):
        half = size // 2
        for k in range(x.shape[0]):
            x0 = int(np.floor(x[k]))
            y0 = int(np.floor(y[k]))
            fx = np.float32(x[k] - x0)
            fy = np.float32(y[k] - y0)
            one = np.float32(1.0)
            for i in range(size):
                r = y0 - half + i
                for j in range(size):
                    c = x0 - half + j
                    top = padded[r, c] * (one - fx) + padded[r, c + 1] * fx
                    bottom = padded[r + 1, c] * (one - fx) + padded[r + 1, c + 1] * fx
                    out[k, i, j] = top * (one - fy) + bottom * fy


def bilinear_patches(padded, x, y, size):
    """Same as :func:`bilinear_patches_numpy`, one pass in numba (no temporaries)."""
    padded = np.ascontiguousarray(padded, dtype=np.float32)
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    if numba is None:  # pragma: no cover - depends on environment
        return bilinear_patches_numpy(padded, x, y, size)
    out = np.empty((x.shape[0], size, size), np.float32)
    _bilinear_kernel(padded, x, y, int(size), out)
    return out
