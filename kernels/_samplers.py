"""Exact binomial and Poisson samplers for Triton blocks, driven by counter-based Philox.

Random numbers: Philox4x32-10 (`tl.philox`) with key = the low 32 bits of the 63-bit
seed and the counter (c0, c1, c2, c3) =
(element index bits 0-31, element index bits 32-43 | stream tag << 12 | round << 16,
image index, call id = the seed's high 31 bits). The element index counts within one
image in C order of its contiguous (C, *spatial) layout, so a draw depends only on
(seed, image, element, stream, round): not on block size, launch grid or GPU.
Stream tags: 0 split uniforms, 1 split proposals, 2 step uniforms, 3 step proposals.
A "uniforms" stream serves four neighbouring elements per Philox call (element 4g + j
takes word j of group g's call, round 0); a "proposals" stream gives one element two
rejection proposals per round (words 0, 1 and 2, 3). Bit-identical results are
promised within one Triton version only: the interpreter's exp/log are numpy's, a GPU's
are approximate, so the two agree in distribution, not bitwise.

Samplers (Hörmann 1993): chop-down inversion with one uniform when the mean is below
10, transformed rejection above (BTRS for the binomial with q = min(p, 1 - p) and a flip
for p > 0.5, PTRS for Poisson). Rejection runs in float64 so counts up to 2**31 - 1
come out exact; log k! is Stirling's series with a table for k <= 9 (no libdevice
`lgamma`, so the interpreter runs the same code). Loops run while any lane of the block
is unfinished (a scalar condition), masking finished lanes. Inversion runs in float32
with 23-bit uniforms; the rare lane whose rounded cdf never reaches its uniform is
redrawn, so no lane loops forever.
"""

from __future__ import annotations

from gaptorch.kernels._triton import HAS_TRITON


def philox_key(seed: int) -> tuple[int, int]:
    """Split a seed in [0, 2**63) into the Philox key (low 32 bits) and the call id."""
    return seed & 0xFFFFFFFF, seed >> 32


if HAS_TRITON:
    import triton
    import triton.language as tl

    SPLIT_STREAM = tl.constexpr(0)
    STEP_STREAM = tl.constexpr(2)
    INVERSION_CAP = tl.constexpr(64)  # inversion serves means < 10: P(k >= 64) < 1e-30
    MAX_ROUNDS = tl.constexpr(64)  # rounds of two proposals, each accepted with p > 0.6

    @triton.jit
    def _philox(key, call, image, index, STREAM: tl.constexpr, rnd):
        """Four uint32 words for counter (index, stream and round, image, call)."""
        high = (index >> 32) + (STREAM << 12) + (rnd << 16)
        return tl.philox(key, index.to(tl.uint32), high.to(tl.uint32), image.to(tl.uint32), call)

    @triton.jit
    def _uniform_f32(bits):
        """23 random bits to a float32 in (0, 1): never 0 or 1."""
        return ((bits >> 9).to(tl.float32) + 0.5) * 1.1920928955078125e-07

    @triton.jit
    def _uniform_f64(bits):
        """32 random bits to a float64 in (0, 1)."""
        return (bits.to(tl.float64) + 0.5) * 2.3283064365386963e-10

    @triton.jit
    def shared_uniforms(key, call, image, start, BLOCK: tl.constexpr, STREAM: tl.constexpr):
        """One float32 uniform per element of `start + arange(BLOCK)`, four per Philox call."""
        group = start // 4 + tl.arange(0, BLOCK // 4)
        w0, w1, w2, w3 = _philox(key, call, image, group, STREAM, 0)
        words = tl.reshape(tl.join(tl.join(w0, w2), tl.join(w1, w3)), [BLOCK])
        return _uniform_f32(words)

    @triton.jit
    def _log1p(x):
        """log(1 + x) accurate for small x in float32 (libdevice's log1p is not portable)."""
        y = 1.0 + x
        d = y - 1.0
        return tl.where(d == 0.0, x, tl.log(y) * (x / tl.where(d == 0.0, 1.0, d)))

    @triton.jit
    def _log_factorial(k):
        """log(k!) for float64 k >= 0: a table below 10, Stirling's series from 10 on."""
        x = tl.maximum(k, 10.0) + 1.0
        r = 1.0 / x
        r2 = r * r
        tail = r * (1.0 / 12.0 - r2 * (1.0 / 360.0 - r2 * (1.0 / 1260.0 - r2 / 1680.0)))
        series = (x - 0.5) * tl.log(x) - x + 0.91893853320467274 + tail
        table = tl.where(k < 2.0, 0.0, 0.69314718055994531)
        table = tl.where(k < 3.0, table, 1.791759469228055)
        table = tl.where(k < 4.0, table, 3.1780538303479458)
        table = tl.where(k < 5.0, table, 4.787491742782046)
        table = tl.where(k < 6.0, table, 6.579251212010101)
        table = tl.where(k < 7.0, table, 8.525161361065415)
        table = tl.where(k < 8.0, table, 10.604602902745251)
        table = tl.where(k < 9.0, table, 12.801827480081469)
        return tl.where(k < 10.0, table, series)

    @triton.jit
    def _inversion(u, p0, a, c, active):
        """Chop-down inversion: P(k) = P(k - 1) * (a - c * k) / k from P(0) = p0.

        Returns k and the lanes whose uniform outlived the (rounded) cdf up to the cap.
        """
        k = tl.zeros(u.shape, tl.int32)
        pk = p0 + tl.zeros(u.shape, tl.float32)
        going = active & (u > pk)
        pending = tl.max(going.to(tl.int32), axis=0)
        while pending > 0:
            u = tl.where(going, u - pk, u)
            k = tl.where(going, k + 1, k)
            kf = k.to(tl.float32)
            pk = tl.where(going, pk * (a - c * kf) / tl.maximum(kf, 1.0), pk)
            going = going & (u > pk) & (k < INVERSION_CAP)
            pending = tl.max(going.to(tl.int32), axis=0)
        return k, active & (u > pk)

    @triton.jit
    def _redraw(unfinished, p0, a, c, key, call, image, elem, STREAM: tl.constexpr):
        """Inversion again, from the proposals stream, for lanes whose uniform outlived the cdf."""
        k = tl.zeros(unfinished.shape, tl.int32)
        rnd = 0
        pending = tl.max(unfinished.to(tl.int32), axis=0)
        while pending > 0:
            w0, w1, w2, w3 = _philox(key, call, image, elem, STREAM + 1, rnd)
            k_new, unfinished_new = _inversion(_uniform_f32(w0), p0, a, c, unfinished)
            k = tl.where(unfinished, k_new, k)
            unfinished = unfinished_new
            rnd += 1
            pending = tl.where(rnd < MAX_ROUNDS, tl.max(unfinished.to(tl.int32), axis=0), 0)
        return k.to(tl.int64)

    @triton.jit
    def _propose(wu, wv, k, todo, n, q, spread, h, slope, BINOMIAL: tl.constexpr):
        """One transformed-rejection proposal (Hörmann 1993) for the lanes in `todo`.

        Binomial (BTRS): n, q <= 1/2, spread = sqrt(n q (1 - q)), slope = log(q / (1 - q)).
        Poisson (PTRS): n = lam, spread = sqrt(lam), slope = log(lam); q is unused.
        The log target is h + k * slope - log k! (- log (n - k)! for the binomial). The
        hat's constants are recomputed per proposal: carrying them costs registers.
        """
        if BINOMIAL:
            b = 1.15 + 2.53 * spread
            a = -0.0873 + 0.0248 * b + 0.01 * q
            c = n * q + 0.5
            vr = 0.92 - 4.2 / b
            alpha = (2.83 + 5.1 / b) * spread
        else:
            b = 0.931 + 2.53 * spread
            a = -0.059 + 0.02483 * b
            c = n + 0.43
            vr = 0.9277 - 3.6224 / (b - 2.0)
            alpha = 1.1239 + 1.1328 / (b - 3.4)
        u = _uniform_f64(wu) - 0.5
        v = _uniform_f64(wv)
        us = 0.5 - tl.abs(u)
        r = 1.0 / us
        kf = tl.floor((2.0 * a * r + b) * u + c)
        if BINOMIAL:
            kc = tl.minimum(tl.maximum(kf, 0.0), n)
            inside = (kf >= 0.0) & (kf <= n)
            log_target = h + kc * slope - _log_factorial(kc) - _log_factorial(n - kc)
        else:
            kc = tl.maximum(kf, 0.0)
            inside = (kf >= 0.0) & ((us >= 0.013) | (v <= us))
            log_target = h + kc * slope - _log_factorial(kc)
        quick = (us >= 0.07) & (v <= vr)
        accept = inside & (quick | (tl.log(v * alpha / (a * r * r + b)) <= log_target))
        return tl.where(todo & accept, kf, k), todo & ~accept

    @triton.jit
    def _rejection(
        active,
        n,
        q,
        spread,
        h,
        slope,
        key,
        call,
        image,
        elem,
        STREAM: tl.constexpr,
        BINOMIAL: tl.constexpr,
    ):
        """Two proposals per Philox round until every active lane has accepted."""
        k = tl.zeros(n.shape, tl.float64)
        todo = active
        rnd = 0
        pending = tl.max(todo.to(tl.int32), axis=0)
        while pending > 0:
            w0, w1, w2, w3 = _philox(key, call, image, elem, STREAM + 1, rnd)
            k, todo = _propose(w0, w1, k, todo, n, q, spread, h, slope, BINOMIAL)
            k, todo = _propose(w2, w3, k, todo, n, q, spread, h, slope, BINOMIAL)
            rnd += 1
            pending = tl.where(rnd < MAX_ROUNDS, tl.max(todo.to(tl.int32), axis=0), 0)
        return k.to(tl.int64)

    @triton.jit
    def block_elements(block, chunks, numel, BLOCK: tl.constexpr):
        """Block `block` of a batch: its image, first element, elements and their mask.

        Blocks run over (image, chunk) pairs: no grid-dimension limit on the batch.
        """
        image = block // chunks
        start = (block - image * chunks) * BLOCK
        elem = start + tl.arange(0, BLOCK)
        return image, start, elem, elem < numel

    @triton.jit
    def image_block(chunks, numel, BLOCK: tl.constexpr):
        """`block_elements` of this program's block, with the program id first."""
        pid = tl.program_id(0).to(tl.int64)
        image, start, elem, inside = block_elements(pid, chunks, numel, BLOCK)
        return pid, image, start, elem, inside

    @triton.jit
    def _binomial_terms(n, p):
        """flip, q = min(p, 1 - p), the rejection lanes and the inversion's P(0), a, c."""
        flip = p > 0.5
        q = tl.where(flip, 1.0 - p, p)
        nf = n.to(tl.float32)
        s = q / (1.0 - q)
        p0 = tl.exp(nf * _log1p(-q))
        return flip, q, nf * q >= 10.0, p0, (nf + 1.0) * s, s

    @triton.jit
    def binomial_by_inversion(n, p, u):
        """Draw Binomial(n, p) by inversion (n int64, u the lane's uniform).

        Returns k (0 on the lanes left to `binomial_by_rejection`) and `deferred`: the
        lanes with n * min(p, 1 - p) >= 10 and the rare ones whose uniform outlived the
        rounded cdf. The common pass stays light: redraws and BTRS run elsewhere.
        """
        flip, q, big, p0, a, c = _binomial_terms(n, p)
        k, unfinished = _inversion(u, p0, a, c, ~big)
        deferred = big | unfinished
        return tl.where(deferred, 0, tl.where(flip, n - k, k)), deferred

    @triton.jit
    def binomial_by_rejection(n, p, u, key, call, image, elem, STREAM: tl.constexpr):
        """Draw Binomial(n, p) on the lanes `binomial_by_inversion(n, p, u)` deferred.

        BTRS in float64 where n * q >= 10, inversion redrawn where the uniform outlived
        the cdf. Returns k (0 elsewhere) and the deferred mask.
        """
        flip, q, big, p0, a, c = _binomial_terms(n, p)
        _, unfinished = _inversion(u, p0, a, c, ~big)
        k = _redraw(unfinished, p0, a, c, key, call, image, elem, STREAM)
        nf = tl.where(big, n, 20).to(tl.float64)
        qf = tl.where(big, q, 0.5).to(tl.float64)
        slope = tl.log(qf / (1.0 - qf))
        m = tl.floor((nf + 1.0) * qf)
        h = _log_factorial(m) + _log_factorial(nf - m) - m * slope
        spread = tl.sqrt(nf * qf * (1.0 - qf))
        btrs = _rejection(big, nf, qf, spread, h, slope, key, call, image, elem, STREAM, True)
        k = tl.where(big, btrs, k)
        deferred = big | unfinished
        return tl.where(deferred, tl.where(flip, n - k, k), 0), deferred

    @triton.jit
    def poisson_by_inversion(lam, u):
        """Draw Poisson(lam) by inversion; `deferred`: lam >= 10, or the cdf outlived.

        NaN rates give 0.
        """
        big = lam >= 10.0
        k, unfinished = _inversion(u, tl.exp(-lam), lam, 0.0, ~big)
        deferred = big | unfinished
        return tl.where(deferred, 0, k.to(tl.int64)), deferred

    @triton.jit
    def poisson_by_rejection(lam, u, key, call, image, elem, STREAM: tl.constexpr):
        """Draw Poisson(lam) on the lanes `poisson_by_inversion(lam, u)` deferred.

        PTRS in float64 where lam >= 10, inversion redrawn elsewhere. Returns k (0 on
        the other lanes) and the deferred mask.
        """
        big = lam >= 10.0
        p0 = tl.exp(-lam)
        _, unfinished = _inversion(u, p0, lam, 0.0, ~big)
        k = _redraw(unfinished, p0, lam, 0.0, key, call, image, elem, STREAM)
        lf = tl.where(big, lam, 10.0).to(tl.float64)
        ptrs = _rejection(
            big, lf, 0.0, tl.sqrt(lf), -lf, tl.log(lf), key, call, image, elem, STREAM, False
        )
        deferred = big | unfinished
        return tl.where(deferred, tl.where(big, ptrs, k), 0), deferred
