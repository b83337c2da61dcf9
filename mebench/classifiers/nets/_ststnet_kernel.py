"""C source of the fused STSTNet training kernel (compiled on first use by ``fused.py``).

One call trains one epoch of one fold's STSTNet on the CPU, single-threaded: for every batch it
runs convolution → ReLU → batch norm → 3×3/3 max pooling → dropout → 2×2 average pooling →
linear → cross-entropy, the exact backward pass, and the optimiser step (Adam, AdamW or SGD, with
the formulas of ``torch.optim``). It never materialises the 16×30×30 activation map:

* forward, per sample: each 16-channel output vector is computed, rectified and folded into the
  per-channel sums (batch-norm statistics) and into its pooling window's running extreme. Batch
  norm is a per-channel increasing (gamma ≥ 0) or decreasing (gamma < 0) affine map, so the max
  pool of its output is the affine image of the window's max (or min) of the ReLU output;
* backward, per sample: the convolution output is recomputed; the gradient at a position is
  the batch-norm gradient istd·(g − mean(g) − x̂·mean(g·x̂)), where g is non-zero only at the
  pooling arg-extremes, so both means come from the pooled gradients.

Randomness (the batch order and the dropout masks) comes from a splitmix64 stream owned by the
fold, so a fold's result does not depend on which other folds run, or on how many threads run
them. Sums over a batch are accumulated per sample, then in double precision in sample order.
"""

SOURCE = r"""
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CH 16      /* filters: streams of 3, 5 and 8 */
#define KK 27      /* 3 input channels x 3 x 3 */
#define HW 30      /* convolution output side (28 + 2*2 - 3 + 1) */
#define PS 32      /* padded input side */
#define NW 100     /* 10 x 10 pooling windows */
#define NF 400     /* 16 x 5 x 5 features after average pooling */
#define NM (CH * NW)

/* one vector holds the 16 channels of a position (one AVX-512 register; two AVX2 ones elsewhere) */
typedef float v16f __attribute__((vector_size(64), aligned(64)));
typedef int32_t v16i __attribute__((vector_size(64), aligned(64)));

static inline v16f blend(v16i m, v16f a, v16f b) { return (v16f)(((v16i)a & m) | ((v16i)b & ~m)); }
static inline v16i blendi(v16i m, v16i a, v16i b) { return (a & m) | (b & ~m); }
static inline v16f splat(float x) { v16f v = {0}; return v + x; }
static inline v16f loadv(const float *p) { v16f v; memcpy(&v, p, sizeof(v)); return v; }
static inline void storev(float *p, v16f v) { memcpy(p, &v, sizeof(v)); }

/* the 16-channel convolution output of the 30 positions of row yy; six positions at a time keep
   six independent accumulation chains (each sums bias + w_0 p_0 + ... + w_26 p_26 in that order) */
static inline void conv_row(const v16f *Wt, v16f bias, const float *xs, int yy, v16f *out) {
    for (int x0 = 0; x0 < HW; x0 += 6) {
        v16f a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias;
        for (int ci = 0; ci < 3; ci++)
            for (int ky = 0; ky < 3; ky++) {
                const float *row = xs + (ci * PS + yy + ky) * PS + x0;
                for (int kx = 0; kx < 3; kx++) {
                    v16f w = Wt[ci * 9 + ky * 3 + kx];
                    a0 += w * row[kx];
                    a1 += w * row[kx + 1];
                    a2 += w * row[kx + 2];
                    a3 += w * row[kx + 3];
                    a4 += w * row[kx + 4];
                    a5 += w * row[kx + 5];
                }
            }
        out[x0] = a0; out[x0 + 1] = a1; out[x0 + 2] = a2; out[x0 + 3] = a3; out[x0 + 4] = a4; out[x0 + 5] = a5;
    }
}

static inline uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t bounded(uint64_t *s, uint64_t n) {   /* unbiased integer in [0, n) */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t r = next_u64(s);
        __uint128_t m = (__uint128_t)r * n;
        if ((uint64_t)m >= threshold) return (uint64_t)(m >> 64);
    }
}

int ststnet_param_count(int k) { return 480 + 401 * k; }

/* floats of scratch space ststnet_forward_backward needs for a batch of B samples and K classes */
long ststnet_work_size(int B, int K) { (void)K; return (long)B * 3 * NM; }

/* Loss of one batch and the gradient of every parameter (grad has ststnet_param_count(k) floats).
   mask: B x 100 x 16 dropout multipliers (0 or 1/keep) per pooling window (row-major 10 x 10) and
   channel. Updates the running statistics.
   work: ststnet_work_size(B, K) floats of scratch space. */
double ststnet_forward_backward(const float *xpad, const int32_t *y, const int32_t *bidx, int B, int K,
                                const float *params, float *running, const float *mask, const float *cw,
                                float bn_momentum, float *grad, float *work) {
    const float *cb = params + 432, *gamma = params + 448, *beta = params + 464;
    const float *fw = params + 480, *fb = params + 480 + NF * K;
    v16f Wt[KK], bias, sgn, zero = splat(0.0f);
    for (int k = 0; k < KK; k++) {
        float col[CH];
        for (int c = 0; c < CH; c++) col[c] = params[c * KK + k];
        Wt[k] = loadv(col);
    }
    {
        float sg[CH];
        for (int c = 0; c < CH; c++) sg[c] = gamma[c] < 0.0f ? -1.0f : 1.0f;
        sgn = loadv(sg);
        bias = loadv(cb);
    }

    float *rsel = work;
    int32_t *arg = (int32_t *)(work + (size_t)B * NM);
    float *gsel = work + (size_t)2 * B * NM;
    double sum[CH] = {0}, sumsq[CH] = {0};

    /* pass 1: convolution, ReLU, batch statistics, pooling-window extremes */
    for (int s = 0; s < B; s++) {
        const float *xs = xpad + (size_t)bidx[s] * 3 * PS * PS;
        v16f best[NW];
        v16i where[NW];
        for (int w = 0; w < NW; w++) { best[w] = splat(-INFINITY); where[w] = (v16i){0} - 1; }
        v16f ps = zero, pq = zero;
        for (int yy = 0; yy < HW; yy++) {
            v16f row[HW];
            conv_row(Wt, bias, xs, yy, row);
            for (int xx = 0; xx < HW; xx++) {
                v16f acc = row[xx];
                v16f r = blend(acc > zero, acc, zero);
                ps += r;
                pq += r * r;
                if (yy < HW - 1 && xx < HW - 1) {
                    int w = ((yy + 1) / 3) * 10 + (xx + 1) / 3;
                    v16f q = sgn * r;
                    v16i better = q > best[w];
                    best[w] = blend(better, q, best[w]);
                    where[w] = blendi(better, (v16i){0} + (yy * HW + xx), where[w]);
                }
            }
        }
        for (int c = 0; c < CH; c++) { sum[c] += ps[c]; sumsq[c] += pq[c]; }
        for (int w = 0; w < NW; w++) {
            storev(rsel + ((size_t)s * NW + w) * CH, sgn * best[w]);
            memcpy(arg + ((size_t)s * NW + w) * CH, &where[w], sizeof(v16i));
        }
    }
    const double N = (double)B * HW * HW;
    float mean[CH], istd[CH];
    for (int c = 0; c < CH; c++) {
        double m = sum[c] / N, v = sumsq[c] / N - m * m;
        if (v < 0) v = 0;
        mean[c] = (float)m;
        istd[c] = (float)(1.0 / sqrt(v + 1e-5));
        running[c] = (1.0f - bn_momentum) * running[c] + bn_momentum * (float)m;
        running[CH + c] = (1.0f - bn_momentum) * running[CH + c] + bn_momentum * (float)(v * N / (N > 1 ? N - 1 : 1));
    }

    /* per sample: pooled batch norm, dropout, average pooling (25 cells of 16 channels), logits,
       weighted cross-entropy, and the backward pass down to the pooled batch-norm outputs */
    v16f gammav = loadv(gamma), betav = loadv(beta), meanv = loadv(mean), istdv = loadv(istd);
    v16f fwT[K][25], gfw[K][25];
    double gfb[K];
    for (int k = 0; k < K; k++) {
        gfb[k] = 0;
        for (int uv = 0; uv < 25; uv++) {
            float col[CH];
            for (int c = 0; c < CH; c++) col[c] = fw[k * NF + c * 25 + uv];
            fwT[k][uv] = loadv(col);
            gfw[k][uv] = zero;
        }
    }
    double loss = 0, wsum = 0, dgamma[CH] = {0}, dbeta[CH] = {0};
    for (int s = 0; s < B; s++) wsum += cw ? cw[y[bidx[s]]] : 1.0;
    for (int s = 0; s < B; s++) {
        const float *rs = rsel + (size_t)s * NM, *ms = mask + (size_t)s * NM;
        v16f cell[25], dcell[25];
        for (int uv = 0; uv < 25; uv++) cell[uv] = zero;
        for (int w = 0; w < NW; w++) {
            int uv = (w / 20) * 5 + (w % 10) / 2;
            cell[uv] += (gammav * ((loadv(rs + w * CH) - meanv) * istdv) + betav) * loadv(ms + w * CH);
        }
        for (int uv = 0; uv < 25; uv++) cell[uv] *= 0.25f;
        float logit[K], mx = -INFINITY;
        for (int k = 0; k < K; k++) {
            v16f t = zero;
            for (int uv = 0; uv < 25; uv++) t += fwT[k][uv] * cell[uv];
            float z = fb[k];
            for (int c = 0; c < CH; c++) z += t[c];
            logit[k] = z;
            if (z > mx) mx = z;
        }
        double se = 0;
        for (int k = 0; k < K; k++) se += exp((double)(logit[k] - mx));
        double lse = log(se) + mx;
        int t = y[bidx[s]];
        double ws = (cw ? cw[t] : 1.0) / wsum;
        loss += ws * (lse - logit[t]);
        for (int uv = 0; uv < 25; uv++) dcell[uv] = zero;
        for (int k = 0; k < K; k++) {
            float dl = (float)(ws * (exp(logit[k] - lse) - (k == t ? 1.0 : 0.0)));
            gfb[k] += dl;
            for (int uv = 0; uv < 25; uv++) {
                gfw[k][uv] += dl * cell[uv];
                dcell[uv] += dl * fwT[k][uv];
            }
        }
        v16f pg = zero, pb = zero;
        for (int w = 0; w < NW; w++) {
            int uv = (w / 20) * 5 + (w % 10) / 2;
            v16f dmp = dcell[uv] * 0.25f * loadv(ms + w * CH);
            v16f xh = (loadv(rs + w * CH) - meanv) * istdv;
            pb += dmp;
            pg += dmp * xh;
            storev(gsel + (size_t)s * NM + w * CH, dmp * gammav);
        }
        for (int c = 0; c < CH; c++) { dgamma[c] += pg[c]; dbeta[c] += pb[c]; }
    }
    memset(grad, 0, sizeof(float) * (size_t)(480 + 401 * K));
    for (int k = 0; k < K; k++) {
        grad[480 + NF * K + k] = (float)gfb[k];
        for (int uv = 0; uv < 25; uv++)
            for (int c = 0; c < CH; c++) grad[480 + k * NF + c * 25 + uv] = gfw[k][uv][c];
    }
    float a1[CH], a2[CH];
    for (int c = 0; c < CH; c++) {
        grad[448 + c] = (float)dgamma[c];
        grad[464 + c] = (float)dbeta[c];
        a1[c] = (float)(gamma[c] * dbeta[c] / N);
        a2[c] = (float)(gamma[c] * dgamma[c] / N);
    }

    /* pass 2: recompute the convolution; gradient at every position; weight gradient */
    double dW[KK][CH], db[CH];
    memset(dW, 0, sizeof(dW));
    memset(db, 0, sizeof(db));
    v16f a1v = loadv(a1), a2v = loadv(a2);
    for (int s = 0; s < B; s++) {
        const float *xs = xpad + (size_t)bidx[s] * 3 * PS * PS;
        const float *gs = gsel + (size_t)s * NM;
        const int32_t *as = arg + (size_t)s * NM;
        v16f acc_w[KK], acc_b = zero;
        for (int k = 0; k < KK; k++) acc_w[k] = zero;
        for (int yy = 0; yy < HW; yy++) {
            v16f dzrow[HW];
            conv_row(Wt, bias, xs, yy, dzrow);
            for (int xx = 0; xx < HW; xx++) {
                v16f acc = dzrow[xx];
                v16f sp = zero;
                if (yy < HW - 1 && xx < HW - 1) {
                    int w = ((yy + 1) / 3) * 10 + (xx + 1) / 3;
                    v16i at;
                    memcpy(&at, as + w * CH, sizeof(at));
                    sp = blend(at == (v16i){0} + (yy * HW + xx), loadv(gs + w * CH), zero);
                }
                v16f xh = (acc - meanv) * istdv;
                v16f g = istdv * (sp - a1v - xh * a2v);
                dzrow[xx] = blend(acc > zero, g, zero);
            }
            for (int xx = 0; xx < HW; xx++) {
                v16f dz = dzrow[xx];
                const float *base = xs + yy * PS + xx;
#pragma GCC unroll 3
                for (int ci = 0; ci < 3; ci++)
#pragma GCC unroll 3
                    for (int ky = 0; ky < 3; ky++)
#pragma GCC unroll 3
                        for (int kx = 0; kx < 3; kx++)
                            acc_w[ci * 9 + ky * 3 + kx] += dz * base[(ci * PS + ky) * PS + kx];
                acc_b += dz;
            }
        }
        for (int k = 0; k < KK; k++)
            for (int c = 0; c < CH; c++) dW[k][c] += acc_w[k][c];
        for (int c = 0; c < CH; c++) db[c] += acc_b[c];
    }
    for (int c = 0; c < CH; c++) {
        for (int k = 0; k < KK; k++) grad[c * KK + k] = (float)dW[k][c];
        grad[432 + c] = (float)db[c];
    }
    return loss;
}

/* One optimiser step with torch.optim's formulas. optimizer: 0 adam, 1 adamw, 2 sgd (momentum). */
void ststnet_optimizer_step(float *params, const float *grad, float *m, float *v, int P, int step, int optimizer,
                            float lr, float beta1, float beta2, float eps, float weight_decay, float momentum) {
    if (optimizer == 2) {
        for (int i = 0; i < P; i++) {
            float g = grad[i] + weight_decay * params[i];
            m[i] = step == 1 ? g : momentum * m[i] + g;
            params[i] -= lr * m[i];
        }
        return;
    }
    float bc1 = 1.0f - powf(beta1, (float)step), bc2 = 1.0f - powf(beta2, (float)step);
    float step_size = lr / bc1, bc2_sqrt = sqrtf(bc2);
    for (int i = 0; i < P; i++) {
        float g = grad[i];
        if (optimizer == 1) params[i] *= 1.0f - lr * weight_decay;
        else g += weight_decay * params[i];
        m[i] += (1.0f - beta1) * (g - m[i]);
        v[i] = v[i] * beta2 + (1.0f - beta2) * g * g;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        params[i] -= step_size * (m[i] / denom);
    }
}

/* One epoch over the training positions idx (shuffled with the fold's stream). Returns the mean loss. */
double ststnet_epoch(const float *xpad, const int32_t *y, const int32_t *idx, int n, int batch, int K,
                     float *params, float *running, float *m, float *v, int32_t *step, const float *cw,
                     float dropout, float bn_momentum, int optimizer, float lr, float beta1, float beta2, float eps,
                     float weight_decay, float momentum, uint64_t *rng) {
    int P = 480 + 401 * K;
    int32_t *order = (int32_t *)malloc(sizeof(int32_t) * (size_t)n);
    memcpy(order, idx, sizeof(int32_t) * (size_t)n);
    for (int i = n - 1; i > 0; i--) {
        int j = (int)bounded(rng, (uint64_t)i + 1);
        int32_t t = order[i]; order[i] = order[j]; order[j] = t;
    }
    int stop = (n % batch == 1 && n > 1) ? n - 1 : n;   /* a lone last sample breaks batch norm */
    float keep = 1.0f - dropout, scale = keep > 0 ? 1.0f / keep : 0.0f;
    uint32_t threshold = (uint32_t)lrint((double)keep * 65536.0);
    float *mask = (float *)malloc(sizeof(float) * (size_t)batch * NM);
    float *grad = (float *)malloc(sizeof(float) * (size_t)P);
    float *work = (float *)malloc(sizeof(float) * (size_t)ststnet_work_size(batch, K));
    double total = 0;
    int batches = 0;
    for (int start = 0; start < stop; start += batch) {
        int B = stop - start < batch ? stop - start : batch;
        size_t count = (size_t)B * NM;
        for (size_t e = 0; e < count; e += 4) {
            uint64_t r = next_u64(rng);
            for (int q = 0; q < 4 && e + q < count; q++)
                mask[e + q] = ((uint32_t)((r >> (16 * q)) & 0xFFFF) < threshold) ? scale : 0.0f;
        }
        total += ststnet_forward_backward(xpad, y, order + start, B, K, params, running, mask, cw, bn_momentum,
                                          grad, work);
        *step += 1;
        ststnet_optimizer_step(params, grad, m, v, P, *step, optimizer, lr, beta1, beta2, eps, weight_decay, momentum);
        batches++;
    }
    free(order); free(mask); free(grad); free(work);
    return batches ? total / batches : 0.0;
}
"""
