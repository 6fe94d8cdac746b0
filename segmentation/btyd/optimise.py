"""Maximum-likelihood optimiser shared by the BTYD fits, and its result type :class:`FitResult`.

Each model supplies an :class:`Objective`, the mean negative log-likelihood per customer as a
function of the log-parameters, searched inside [1e-6, 1e8]:

* the result is the exact MLE (``FitResult.max_abs_grad`` reports max |d(mean log-likelihood per
  customer)/d log(theta)|, and ``message`` the size of the remaining Newton step ``H^-1 g``, i.e.
  the estimated relative error of the parameters);
* BG/NBD and Gamma-Gamma have analytic gradients and Hessians and are fitted by damped Newton
  (:func:`fit_newton`: absolute eigenvalues of the Hessian far from the optimum, Armijo
  backtracking). BG/NBD first approaches the optimum on systematic subsamples of the repeat-buyer
  units (every k-th unit, weights times k: 12,000 units, then 8 times more while that is at most a
  quarter of the data): a subsample's optimum is within its sampling error of the full-data
  optimum, so the full data need only two or three Newton steps (quadratic convergence).
  Gamma-Gamma starts from closed-form log-moment estimates instead
  (``Var(log m | x) = psi'(p x) + psi'(q)``), which are about as close. Newton stops once the
  remaining step is at most 1e-8 in every log-parameter (max |gradient| then ~1e-10); a step of at
  most 1e-4 is expected to be the last one, and the point it reaches is evaluated without a new
  Hessian (the previous one certifies the remaining step). On the 100,000-buyer benchmark summary
  that is 5 + 2 + 1 evaluations of BG/NBD (subsample, full with Hessian, full gradient only) and
  2 + 1 of Gamma-Gamma;
* when Newton does not converge (flat or unidentified likelihoods), and always for Pareto/NBD,
  L-BFGS-B from several starts (:func:`fit_multistart`; finite-difference gradients for
  Pareto/NBD, whose L-BFGS-B runs in coordinates whitened by the starting Hessian) is followed by
  Newton polishing with the analytic (BG/NBD, Gamma-Gamma) or a finite-difference (Pareto/NBD)
  Hessian.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from segmentation.btyd.special import FloatArray

# Optimisation constants. The objective is the mean negative log-likelihood per customer, and the
# parameters are optimised on the log scale inside [exp(LOG_LOWER), exp(LOG_UPPER)].
LOG_LOWER = math.log(1e-6)
LOG_UPPER = math.log(1e8)
_GTOL_CONVERGED = 1e-6
_STEP_TOL_CONVERGED = 1e-6
_GTOL_POLISH = 1e-11
_MAX_LBFGS_ITER = 2000
_STEP_TOL_NEWTON = 1e-8
# Units processed per block in the likelihood loops (temporaries of 256 KiB stay in cache).
BLOCK = 1 << 15
# Size of the subsample on which the Newton fits first approach the optimum.
SUBSAMPLE_UNITS = 12_000
_SUBSAMPLE_STEP_TOL = 1e-2


@dataclass(frozen=True)
class FitResult:
    """Outcome of a maximum-likelihood fit.

    Attributes:
        model: ``"bgnbd"``, ``"pareto_nbd"`` or ``"gamma_gamma"``.
        params: Parameter name -> value, names as in the papers (NaN when the fit was not possible).
        log_likelihood: Total (weighted) log-likelihood at ``params`` (NaN when not fitted).
        n_customers: Number of customers the fit represents (sum of the weights). For Gamma-Gamma,
            the number of customers with x > 0 that entered the likelihood.
        converged: True when the optimiser stopped at an interior point with ~0 gradient
            (max |grad| <= 1e-6), a positive-definite Hessian and a remaining Newton step below
            1e-6 in log-parameters. When False, ``params`` are NaN for degenerate inputs, otherwise
            the best point found (possibly at the search bound 1e-6 / 1e8); do not use them for
            prediction, fall back to :func:`simple_clv_12m`.
        message: Human-readable status: the reason for a degenerate or unconverged fit, or the
            convergence diagnostics.
        iterations: Optimiser iterations (L-BFGS-B plus Newton polishing steps).
        max_abs_grad: max |d(mean log-likelihood per customer) / d log(theta)| at ``params``.
    """

    model: str
    params: dict[str, float]
    log_likelihood: float
    n_customers: int
    converged: bool
    message: str
    iterations: int
    max_abs_grad: float = math.nan


def degenerate_fit(model: str, names: tuple[str, ...], n: int, reason: str) -> FitResult:
    """The :class:`FitResult` of a fit not attempted: NaN parameters, ``reason`` as message."""
    return FitResult(
        model=model,
        params=dict.fromkeys(names, math.nan),
        log_likelihood=math.nan,
        n_customers=n,
        converged=False,
        message=reason,
        iterations=0,
    )


class Objective:
    """Mean negative log-likelihood per customer as a function of log-parameters.

    Subclasses implement ``__call__(phi) -> (value, gradient)`` (used by L-BFGS-B); ``precise`` is
    the same with the most accurate gradient available (used for polishing and the convergence
    check) and ``hessian`` a finite-difference Hessian.
    """

    total_weight: float
    precondition: bool = False
    units: int = 0

    def __call__(self, phi: FloatArray) -> tuple[float, FloatArray]:
        raise NotImplementedError

    def precise(self, phi: FloatArray) -> tuple[float, FloatArray]:
        return self(phi)

    def hessian(self, phi: FloatArray, f0: float) -> FloatArray:
        return _fd_hessian(self, phi)

    def evaluate(self, phi: FloatArray, order: int) -> tuple[float, FloatArray, FloatArray | None]:
        """Value, gradient (order >= 1) and Hessian (order 2); analytic objectives only."""
        raise NotImplementedError

    def subsample(self, target: int) -> Objective | None:
        """The objective on every k-th unit, k = units // target (weights times k), or None."""
        return None


def to_log_scale(
    ll: float, g: FloatArray, h: FloatArray, theta: FloatArray, total: float, order: int
) -> tuple[float, FloatArray, FloatArray | None]:
    """(-ll, -grad, -Hessian) / total in log-parameters, from the derivatives in theta (the Hessian
    given by its upper triangle)."""
    f = -ll / total
    g_phi = g * theta
    if order < 2:
        return f, -g_phi / total, None
    k = theta.size
    h_phi = h + h.T
    h_phi.flat[:: k + 1] *= 0.5
    h_phi *= theta[:, None] * theta
    h_phi.flat[:: k + 1] += g_phi
    h_phi *= -1.0 / total
    return f, -g_phi / total, h_phi


def fd_gradient(
    fun: Callable[[FloatArray], float], phi: FloatArray, step: float = 1e-5
) -> FloatArray:
    """Central-difference gradient (error ~1e-10 for the scaled objectives used here)."""
    grad = np.empty(phi.size)
    for i in range(phi.size):
        e = np.zeros(phi.size)
        e[i] = step
        grad[i] = (fun(phi + e) - fun(phi - e)) / (2 * step)
    return grad


def fd_hessian_from_values(
    fun: Callable[[FloatArray], float], phi: FloatArray, f0: float, step: float = 1e-4
) -> FloatArray:
    """Central second differences from function values: 2k + 2k(k-1) evaluations (33 for k=4)."""
    k = phi.size
    eye = np.eye(k) * step
    f_plus = np.array([fun(phi + eye[i]) for i in range(k)])
    f_minus = np.array([fun(phi - eye[i]) for i in range(k)])
    hess = np.empty((k, k))
    for i in range(k):
        hess[i, i] = (f_plus[i] - 2.0 * f0 + f_minus[i]) / step**2
        for j in range(i + 1, k):
            hess[i, j] = hess[j, i] = (
                fun(phi + eye[i] + eye[j])
                - fun(phi + eye[i] - eye[j])
                - fun(phi - eye[i] + eye[j])
                + fun(phi - eye[i] - eye[j])
            ) / (4 * step**2)
    return hess


def _fd_hessian(
    objective: Callable[[FloatArray], tuple[float, FloatArray]], phi: FloatArray, step: float = 1e-4
) -> FloatArray:
    k = phi.size
    hess = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = step
        hess[:, i] = (objective(phi + e)[1] - objective(phi - e)[1]) / (2 * step)
    return 0.5 * (hess + hess.T)


@dataclass
class _OptState:
    phi: FloatArray
    fun: float
    grad: FloatArray
    iterations: int
    hess_pd: bool
    rel_step: float
    note: str


def _converged_problem(state: _OptState, names: tuple[str, ...]) -> str:
    if not (np.isfinite(state.fun) and np.all(np.isfinite(state.grad))):
        return "non-finite log-likelihood or gradient"
    at_bound = [
        n
        for n, v in zip(names, state.phi, strict=True)
        if v <= LOG_LOWER + 1e-6 or v >= LOG_UPPER - 1e-6
    ]
    if at_bound:
        return (
            f"parameter(s) {at_bound} at the search bound [1e-6, 1e8] (not identified by the data)"
        )
    if float(np.max(np.abs(state.grad))) > _GTOL_CONVERGED:
        return "gradient not ~0" + (f" ({state.note})" if state.note else "")
    if not state.hess_pd:
        return "Hessian not positive definite (flat or saddle)"
    if not state.rel_step <= _STEP_TOL_CONVERGED:
        return (
            f"remaining Newton step {state.rel_step:.1e} (relative) > {_STEP_TOL_CONVERGED:g}: "
            "the likelihood is too flat to pin the parameters"
        )
    return ""


def _result(
    objective: Objective, best: _OptState, model: str, names: tuple[str, ...], n_customers: int
) -> FitResult:
    problem = _converged_problem(best, names)
    params = dict(zip(names, (float(v) for v in np.exp(best.phi)), strict=True))
    gmax = float(np.max(np.abs(best.grad)))
    diag = (
        f"max|grad|={gmax:.2e} (mean log-lik per customer w.r.t. log-params), "
        f"est. max rel. param error={best.rel_step:.1e}"
    )
    message = f"converged: {diag}" if not problem else f"not converged: {problem}; {diag}"
    return FitResult(
        model=model,
        params=params,
        log_likelihood=float(-best.fun * objective.total_weight),
        n_customers=n_customers,
        converged=not problem,
        message=message,
        iterations=best.iterations,
        max_abs_grad=gmax,
    )


def _newton_polish(
    objective: Callable[[FloatArray], tuple[float, FloatArray]],
    phi: FloatArray,
    fun: float,
    grad: FloatArray,
    hessian: Callable[[FloatArray, float], FloatArray],
) -> _OptState:
    """Newton iterations with a finite-difference Hessian until the gradient vanishes.

    L-BFGS-B stops on relative function decrease, which on a flat ridge can leave the parameters
    ~1e-4 away from the optimum; a few Newton steps make the result the exact MLE.
    """
    lower, upper = LOG_LOWER, LOG_UPPER
    hess = hessian(phi, fun)
    iterations = 0
    note = ""
    stalled = 0
    for attempt in range(30):
        if np.max(np.abs(grad)) <= _GTOL_POLISH:
            break
        try:
            chol = np.linalg.cholesky(hess)
        except np.linalg.LinAlgError:
            note = "Hessian not positive definite during polishing"
            break
        step = np.linalg.solve(chol.T, np.linalg.solve(chol, grad))
        if np.max(np.abs(step)) < 1e-10:  # relative parameter change below 1e-10: done
            break
        accepted = False
        t = 1.0
        gmax = float(np.max(np.abs(grad)))
        for _ in range(40):
            cand = np.clip(phi - t * step, lower, upper)
            f_new, g_new = objective(cand)
            if np.isfinite(f_new) and np.all(np.isfinite(g_new)):
                decrease = f_new <= fun - 1e-4 * t * float(np.sum(grad * step))
                flat = abs(f_new - fun) <= 1e-14 * max(1.0, abs(fun))
                if decrease or (flat and float(np.max(np.abs(g_new))) < gmax):
                    accepted = True
                    break
            t *= 0.5
        if not accepted:
            break
        # A finite-difference gradient has a noise floor: stop once it no longer halves.
        stalled = stalled + 1 if float(np.max(np.abs(g_new))) > 0.5 * gmax else 0
        phi, fun, grad = cand, f_new, g_new
        iterations += 1
        if stalled >= 2:
            break
        if attempt in (5, 15):  # slow progress: refresh the Hessian
            hess = hessian(phi, fun)
    try:
        chol = np.linalg.cholesky(hess)
        rel_step = float(np.max(np.abs(np.linalg.solve(chol.T, np.linalg.solve(chol, grad)))))
        hess_pd = True
    except np.linalg.LinAlgError:
        rel_step = math.nan
        hess_pd = False
    return _OptState(phi, fun, grad, iterations, hess_pd, rel_step, note)


def _whitening(objective: Objective, start: FloatArray) -> FloatArray | None:
    """Matrix S with S^T H S ~ I at the start (H = finite-difference Hessian), or None."""
    with np.errstate(all="ignore"):
        f0 = objective.precise(start)[0]
        hess = objective.hessian(start, f0)
    if not np.all(np.isfinite(hess)):
        return None
    eigval, eigvec = np.linalg.eigh(hess)
    scale = np.maximum(np.abs(eigval), max(1e-3 * float(np.abs(eigval).max()), 1e-10))
    return eigvec / np.sqrt(scale)


def _optimise_from(objective: Objective, start: FloatArray) -> _OptState:
    """L-BFGS-B on log-parameters, then Newton polishing (see :func:`_newton_polish`).

    Objectives with ``precondition = True`` (Pareto/NBD: expensive, finite-difference gradient,
    strongly correlated s and beta) are first whitened with the Hessian at the start, which cuts the
    number of L-BFGS-B iterations several-fold; parameters are then clipped to the search box.
    """
    lower, upper = LOG_LOWER, LOG_UPPER
    options = {"maxiter": _MAX_LBFGS_ITER, "ftol": 1e-12, "gtol": 1e-7, "maxls": 50}
    whitening = _whitening(objective, start) if objective.precondition else None
    with np.errstate(all="ignore"):
        if whitening is None:
            res = optimize.minimize(
                objective,
                start,
                jac=True,
                method="L-BFGS-B",
                bounds=[(lower, upper)] * start.size,
                options=options,
            )
            phi = np.asarray(res.x, dtype=np.float64)
        else:
            w_mat = whitening

            def whitened(psi: FloatArray) -> tuple[float, FloatArray]:
                f, g = objective(np.clip(start + w_mat @ psi, lower, upper))
                return f, w_mat.T @ g

            res = optimize.minimize(
                whitened, np.zeros(start.size), jac=True, method="L-BFGS-B", options=options
            )
            phi = np.clip(start + w_mat @ np.asarray(res.x, dtype=np.float64), lower, upper)
        f0, g0 = objective.precise(phi)
        if np.any(phi <= lower + 1e-6) or np.any(phi >= upper - 1e-6):
            # Unidentified direction: the likelihood keeps improving towards the bound. Polishing
            # cannot help; report the point as is (the caller sees converged=False).
            state = _OptState(phi, f0, g0, 0, False, math.nan, "")
        else:
            state = _newton_polish(objective.precise, phi, f0, g0, objective.hessian)
    state.iterations += int(res.nit)
    if not state.note and res.status not in (0, 2):  # 2 = ABNORMAL_TERMINATION_IN_LNSRCH (benign)
        state.note = f"L-BFGS-B: {res.message}"
    return state


def fit_multistart(
    objective: Objective,
    starts: list[FloatArray],
    model: str,
    names: tuple[str, ...],
    n_customers: int,
) -> FitResult:
    """Run the optimiser from successive starts until one converges; keep the best."""
    best: _OptState | None = None
    total_iterations = 0
    at_bound_runs = 0
    for start in starts:
        state = _optimise_from(objective, start)
        total_iterations += state.iterations
        if best is None or (np.isfinite(state.fun) and state.fun < best.fun):
            best = state
        if _converged_problem(best, names) == "":
            break
        at_bound_runs += "search bound" in _converged_problem(state, names)
        if at_bound_runs >= 2:  # two starts agree the data do not identify a parameter
            break
    assert best is not None
    best.iterations = total_iterations
    return _result(objective, best, model, names, n_customers)


def _newton(
    objective: Objective, phi: FloatArray, step_tol: float, max_iter: int = 100
) -> _OptState:
    """Damped Newton iterations with the analytic Hessian of ``objective.evaluate``.

    Far from the optimum a Hessian that is not positive definite is replaced by its absolute
    eigenvalues, steps are capped at 2 in log-parameters and backtracked (Armijo). Stops when the
    Newton step ``H^-1 g`` (the estimated relative error of every parameter) is at most
    ``step_tol``, when below 1e-6 it no longer shrinks (rounding noise of the gradient), or at a
    search bound. A step of at most 1e-4 is expected to be the last one
    (quadratic convergence), so the point it leads to is evaluated without a new Hessian: the
    previous one is accurate enough to certify the remaining step.
    """
    lower, upper = LOG_LOWER, LOG_UPPER
    f, g, hess = objective.evaluate(phi, 2)
    iterations = 0
    note = ""
    previous = math.inf
    while True:
        if not (math.isfinite(f) and np.all(np.isfinite(g)) and np.all(np.isfinite(hess))):
            note = "non-finite log-likelihood, gradient or Hessian"
            hess_pd, rel_step = False, math.nan
            break
        eigval, eigvec = np.linalg.eigh(hess)
        hess_pd = bool(eigval[0] > 0)
        if hess_pd:
            step = -(eigvec @ ((eigvec.T @ g) / eigval))
            rel_step = size = float(np.max(np.abs(step)))
            if size <= step_tol or (size <= 1e-6 and size > 0.25 * previous):
                break
            previous = size
        else:
            floor = max(1e-8 * float(np.max(np.abs(eigval))), 1e-12)
            step = -(eigvec @ ((eigvec.T @ g) / np.maximum(np.abs(eigval), floor)))
            rel_step, size, previous = math.nan, float(np.max(np.abs(step))), math.inf
        if np.any(phi <= lower + 1e-6) or np.any(phi >= upper - 1e-6):
            break
        if iterations >= max_iter:
            note = f"Newton: no convergence in {max_iter} iterations"
            break
        if size > 2.0:
            step *= 2.0 / size
        order = 1 if hess_pd and size <= 1e-4 else 2
        slope = float(np.einsum("i,i->", g, step))
        gmax = float(np.max(np.abs(g)))
        t = 1.0
        for _ in range(30):
            cand = np.clip(phi + t * step, lower, upper)
            f_new, g_new, h_new = objective.evaluate(cand, order)
            if math.isfinite(f_new) and np.all(np.isfinite(g_new)):
                if f_new <= f + 1e-4 * t * slope:
                    break
                # at the rounding level of f, accept a step that reduces the gradient
                if -t * slope <= 1e-13 * (1.0 + abs(f)) and np.max(np.abs(g_new)) < gmax:
                    break
            t *= 0.25
        else:
            note = "Newton: line search failed"
            break
        phi, f, g = cand, f_new, g_new
        if h_new is not None:
            hess = h_new
        iterations += 1
    return _OptState(phi, f, g, iterations, hess_pd, rel_step, note)


def fit_newton(
    objective: Objective,
    starts: list[FloatArray],
    model: str,
    names: tuple[str, ...],
    n_customers: int,
    first_level: int | None = SUBSAMPLE_UNITS,
) -> FitResult:
    """Newton from the first start, approaching the optimum on growing subsamples of the units
    (``first_level``, 8x that, ... while at most a quarter of the units; none if None) before
    the full data; the L-BFGS-B multi-start path of :func:`fit_multistart` when that does not
    converge.

    Each level's optimum is within its sampling error of the full-data optimum, so the full data
    need only the last two or three Newton steps (quadratic convergence).
    """
    phi = starts[0]
    iterations = 0
    size = first_level or objective.units
    while 4 * size <= objective.units:
        sub = objective.subsample(size)
        if sub is None:
            break
        approach = _newton(sub, phi, _SUBSAMPLE_STEP_TOL, max_iter=50)
        iterations += approach.iterations
        if (
            approach.hess_pd
            and approach.rel_step <= 1e-2
            and "search bound" not in (_converged_problem(approach, names))
        ):
            phi = approach.phi
        size *= 8
    state = _newton(objective, phi, _STEP_TOL_NEWTON)
    state.iterations += iterations
    if _converged_problem(state, names):
        return fit_multistart(objective, starts, model, names, n_customers)
    return _result(objective, state, model, names, n_customers)
